import DealSyncConnectors
import DealSyncCore
import DealSyncSimulators
import Foundation
import Testing

struct Bitrix24WriterTests {
    typealias F = BitrixConnectorFixture

    func update(_ id: Int, _ values: [String: FieldValue]) -> Delivery {
        Delivery(
            outboxIDs: [Int64(id)], idempotencyKey: "k\(id)", operation: .update, recordID: String(id), masterDealID: nil,
            values: values, lineageID: UUID())
    }

    @Test func aBatchWithMixedResultsSucceedsWhereItCanAndSaysWhyElsewhere() async throws {
        let simulator = F.simulator()
        try await simulator.withRunning { url in
            let connector = try F.connector(url: url)
            let a = simulator.createAsSalesperson(userID: 12, fields: ["TITLE": "A", "CATEGORY_ID": "2", "STAGE_ID": "C2:NEW"])
            let b = simulator.createAsSalesperson(userID: 12, fields: ["TITLE": "B", "CATEGORY_ID": "2", "STAGE_ID": "C2:NEW"])
            let money = FieldValue.money(Money(amount: Decimal(string: "15000.5")!, currency: "RUB"))
            let outcomes = await connector.deliver([
                update(
                    a.id, ["TITLE": .text("A2"), "STAGE_ID": .text("C2:PREPARATION"), "OPPORTUNITY": money, "UF_CRM_PROGRAM": .text("42")]),
                update(999_999, ["TITLE": .text("nobody")]),
                update(b.id, ["STAGE_ID": .text("C2:NO_SUCH_STAGE")]),
                update(b.id, ["UF_CRM_NO_SUCH_FIELD": .text("x")]),
                update(b.id, ["UF_CRM_PROGRAM": .text("99")]),
                update(b.id, ["TITLE": .text("B2")]),
            ])
            guard case .delivered(let id, let landed) = outcomes[0] else {
                Issue.record("the valid update must be delivered: \(outcomes[0])")
                return
            }
            #expect(id == String(a.id))
            #expect(landed == SourceStamp(seconds: Int64(simulator.deal(id: a.id)!.dateModify)), "the batch reads back DATE_MODIFY")
            let updated = try #require(simulator.deal(id: a.id))
            #expect(updated.title == "A2" && updated.stageID == "C2:PREPARATION" && updated.opportunity == Decimal(string: "15000.5")!)
            #expect(updated.userField("UF_CRM_PROGRAM") == "42")
            guard case .permanent(.notFound, _, _) = outcomes[1] else {
                Issue.record("an unknown deal is not found (Bitrix24's empty error code): \(outcomes[1])")
                return
            }
            for index in 2...4 {
                guard case .permanent(.validation, _, let detail) = outcomes[index] else {
                    Issue.record("what Bitrix24 would silently drop is refused before sending: \(outcomes[index])")
                    continue
                }
                #expect(detail.hasPrefix("not sent:"))
            }
            guard case .delivered = outcomes[5] else {
                Issue.record("a good write after bad ones is delivered: \(outcomes[5])")
                return
            }
            #expect(simulator.deal(id: b.id)?.title == "B2" && simulator.deal(id: b.id)?.stageID == "C2:NEW")
        }
    }

    @Test func aCreateIsMarkedAsOursAndNeverMadeTwice() async throws {
        let simulator = F.simulator()
        try await simulator.withRunning { url in
            let connector = try F.connector(url: url)
            let create = Delivery(
                outboxIDs: [1], idempotencyKey: "c1", operation: .create, recordID: nil, masterDealID: "md-7",
                values: ["TITLE": .text("New"), "ORIGIN_ID": .text("md-7"), "ASSIGNED_BY_ID": .text("15")], lineageID: UUID())
            guard case .delivered(let id, let landed) = await connector.deliver([create])[0] else {
                Issue.record("the create is delivered")
                return
            }
            let deal = try #require(simulator.deal(id: Int(id)!))
            #expect(deal.originatorID == "dealsync" && deal.originID == "md-7" && deal.categoryID == 2 && deal.stageID == "C2:NEW")
            #expect(landed != nil)
            // The answer was lost: the retry finds the deal instead of creating another.
            var retry = create
            retry.attempt = 1
            guard case .delivered(let again, _) = await connector.deliver([retry])[0] else {
                Issue.record("the retried create resolves to the existing deal")
                return
            }
            #expect(again == id)
            #expect(simulator.allDeals().filter { $0.originID == "md-7" }.count == 1)
        }
    }

    @Test func underFullLoadTheClientBucketKeepsThePortalFromRefusing() async throws {
        // A smaller bucket than a real portal's, so the test is quick; the connector is configured to match it.
        let simulator = F.simulator { $0.limits = .init(bucketCapacity: 20, drainPerSecond: 10) }
        try await simulator.withRunning { url in
            // As in production, the client's bucket stays below the portal's (40 of 50 there), with room for the
            // bunching a loaded machine adds to request timing.
            let connector = try F.connector(url: url, extra: "rate_limit: {requests_per_second: 8, burst: 12}")
            let deal = simulator.createAsSalesperson(userID: 12, fields: ["TITLE": "Load", "CATEGORY_ID": "2", "STAGE_ID": "C2:NEW"])
            let fetched = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<40 {
                    group.addTask { try await connector.fetch([String(deal.id)], lineage: UUID()).count }
                }
                return try await group.reduce(0, +)
            }
            #expect(fetched == 40)
            #expect(simulator.stats.queryLimitExceeded == 0, "the portal refused \(simulator.stats.queryLimitExceeded) calls")
        }
    }
}
