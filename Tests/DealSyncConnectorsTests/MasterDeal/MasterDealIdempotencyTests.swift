import DealSyncConnectors
import DealSyncCore
import DealSyncSimulators
import Foundation
import Testing

/// Writes are retried with their `Idempotency-Key` and take effect once; a write on a stale version is not an
/// overwrite but a re-read.
struct MasterDealIdempotencyTests {
    @Test func anUpdateDeliveredFiveTimesChangesTheDealOnce() async throws {
        let simulator = MasterDealSimulator(configuration: MasterDealFixture.simulatorConfiguration())
        try await simulator.withRunning { baseURL in
            let connector = try MasterDealFixture.connector(baseURL: baseURL)
            let deal = try simulator.createAsUser(MasterDealFixture.fullDeal)
            let delivery = MasterDealFixture.delivery(
                .update, recordID: deal.id, key: "outbox-41",
                values: [
                    "opportunity_name": .text("Tour to Sochi, 3 pax"), "amount": .money(Money(amount: 180_000, currency: "RUB")),
                    "attributes.pax": .integer(3),
                ],
                knownVersion: 1)

            let outcomes = await connector.deliver(Array(repeating: delivery, count: 5))

            let after = try #require(simulator.deal(id: deal.id))
            #expect(after.version == 2, "one change, one version")
            #expect(after.opportunityName == "Tour to Sochi, 3 pax")
            #expect(after.amount == "180000.00")
            let landed = SourceStamp(millis: after.updatedAt, version: 2)
            #expect(outcomes == Array(repeating: .delivered(recordID: deal.id, landedAt: landed), count: 5))
            let stats = simulator.stats
            #expect(stats.writesApplied == 1)
            #expect(stats.idempotentReplays == 4)
            #expect(stats.requests("PATCH /v1/deals/{id}", status: 200) == 5)
            #expect(stats.eventsEmitted == 1, "only the user's create emitted an event; a name change emits none")
        }
    }

    @Test func aCreateRetriedFiveTimesCreatesOneDeal() async throws {
        let simulator = MasterDealSimulator(configuration: MasterDealFixture.simulatorConfiguration())
        try await simulator.withRunning { baseURL in
            let connector = try MasterDealFixture.connector(baseURL: baseURL)
            let create = MasterDealFixture.delivery(
                .create, key: "outbox-7",
                values: ["account_id": .text("acc-1"), "opportunity_name": .text("amo #9001"), "stage": .text("lead")])

            var outcomes: [DeliveryOutcome] = []
            for _ in 0..<5 { outcomes += await connector.deliver([create]) }

            let deals = simulator.allDeals()
            try #require(deals.count == 1)
            let landed = SourceStamp(millis: deals[0].updatedAt, version: 1)
            #expect(outcomes == Array(repeating: .delivered(recordID: deals[0].id, landedAt: landed), count: 5))
            #expect(simulator.stats.idempotentReplays == 4)
            #expect(simulator.stats.writesApplied == 1)
            #expect(simulator.eventHistory.count { $0.event.type == .dealCreated } == 1)

            // A different key is a different write: it creates a second deal.
            let another = await connector.deliver([MasterDealFixture.delivery(.create, key: "outbox-8", values: create.values)])
            guard case .delivered(let secondID, _)? = another.first else {
                Issue.record("the second create was not delivered: \(another)")
                return
            }
            #expect(secondID != deals[0].id)
            #expect(simulator.allDeals().count == 2)
        }
    }

    @Test func aWriteOnAStaleVersionComesBackWithTheDealAsItIsNow() async throws {
        let simulator = MasterDealSimulator(configuration: MasterDealFixture.simulatorConfiguration())
        try await simulator.withRunning { baseURL in
            let connector = try MasterDealFixture.connector(baseURL: baseURL)
            let deal = try simulator.createAsUser(MasterDealFixture.fullDeal)
            // Someone in MasterDeal changes the deal after dealsync read version 1.
            let current = try simulator.editAsUser(
                id: deal.id,
                changes: [
                    "opportunity_name": "Renamed in MasterDeal",
                    "stage": "qualified",
                ])
            #expect(current.version == 2)

            let delivery = MasterDealFixture.delivery(
                .update, recordID: deal.id, key: "outbox-12",
                values: ["opportunity_name": .text("Renamed in the CRM"), "stage": .text("proposal")], knownVersion: 1)
            let outcome = try #require(await connector.deliver([delivery]).first)

            guard case .stale(let refetched) = outcome, let item = refetched else {
                Issue.record("expected .stale with the deal as it is now, got \(outcome)")
                return
            }
            #expect(item.source == .fetch)
            #expect(item.connector == "masterdeal")
            #expect(item.dedupeKey == "deal:\(deal.id):v2")
            #expect(item.lineageID == delivery.lineageID)
            let observation = try MasterDealFixture.observation(connector, item)
            #expect(observation.recordID == deal.id)
            #expect(observation.stamp == SourceStamp(millis: current.updatedAt, version: 2))
            #expect(observation.fields["opportunity_name"] == .text("Renamed in MasterDeal"))
            #expect(observation.fields["stage"] == .text("qualified"))

            // Nothing was overwritten.
            #expect(simulator.deal(id: deal.id) == current)
            #expect(simulator.stats.writesApplied == 0)
            #expect(simulator.stats.requests("PATCH /v1/deals/{id}", status: 412) == 1)

            // After re-deciding on version 2 the same key goes through: a refused write does not use it up.
            var redecided = delivery
            redecided.knownVersion = 2
            let second = try #require(await connector.deliver([redecided]).first)
            let landed = try #require(simulator.deal(id: deal.id))
            #expect(second == .delivered(recordID: deal.id, landedAt: SourceStamp(millis: landed.updatedAt, version: 3)))
            #expect(landed.opportunityName == "Renamed in the CRM")
        }
    }
}
