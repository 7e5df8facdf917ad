import DealSyncConnectors
import DealSyncCore
import DealSyncSimulators
import Foundation
import Testing

struct Bitrix24PollerTests {
    typealias F = BitrixConnectorFixture

    @Test func aPollFindsAnEditMadeAfterThePreviousOne() async throws {
        let simulator = F.simulator()
        try await simulator.withRunning { url in
            let connector = try F.connector(url: url)
            let deal = simulator.createAsSalesperson(userID: 12, fields: ["TITLE": "A", "CATEGORY_ID": "2", "STAGE_ID": "C2:NEW"])
            var cursor: String?
            let first = try await F.pollAll(connector, cursor: &cursor)
            #expect(first.contains { $0.dedupeKey.hasPrefix("deal:\(deal.id):") })
            simulator.advanceClock(bySeconds: 5)
            _ = simulator.editAsSalesperson(dealID: deal.id, userID: 12, fields: ["TITLE": "B"])
            let second = try await F.pollAll(connector, cursor: &cursor)
            let keys = second.map(\.dedupeKey)
            #expect(
                keys.contains { $0.hasPrefix("deal:\(deal.id):") && !first.map(\.dedupeKey).contains($0) }, "\(keys) cursor \(cursor ?? "")"
            )
        }
    }
}

extension Bitrix24PollerTests {
    /// Bitrix24 filters by whole seconds, so a page that ends inside a second is read again from that second's
    /// start: a deal may come twice, under one key (the inbox stores it once), at most a page again per page.
    @Test func dealsSharingOneSecondAreAllPolledUnderOneKeyEach() async throws {
        let simulator = F.simulator { $0.limits = .unlimited }
        try await simulator.withRunning { url in
            let connector = try F.connector(url: url)
            simulator.freezeClock()
            var ids: [Int] = []
            for index in 0..<130 {
                ids.append(
                    simulator.createAsSalesperson(userID: 12, fields: ["TITLE": "Deal \(index)", "CATEGORY_ID": "2", "STAGE_ID": "C2:NEW"])
                        .id)
            }
            var cursor: String?
            let items = try await F.pollAll(connector, cursor: &cursor)
            let polledIDs = items.compactMap { Int($0.dedupeKey.split(separator: ":")[1]) }
            let polled = Set(polledIDs)
            #expect(polled == Set(ids), "missing \(Set(ids).subtracting(polled).sorted().prefix(5))")
            #expect(Set(items.map(\.dedupeKey)).count == ids.count, "one key per deal, however often it was read")
            #expect(polledIDs.count - ids.count <= 50 * 2, "re-reads of the tie second stay within a page per page: \(polledIDs.count)")
            // Polling again reads the boundary second again; the keys are the same, so the inbox stores nothing new.
            let again = try await F.pollAll(connector, cursor: &cursor)
            #expect(Set(again.map(\.dedupeKey)).isSubset(of: Set(items.map(\.dedupeKey))))
            simulator.unfreezeClock()
        }
    }

    @Test func dealsOfOtherFunnelsAreNotPolled() async throws {
        let simulator = F.simulator()
        try await simulator.withRunning { url in
            let connector = try F.connector(url: url)
            _ = simulator.createAsSalesperson(userID: 12, fields: ["TITLE": "General", "CATEGORY_ID": "0"])
            let mine = simulator.createAsSalesperson(userID: 12, fields: ["TITLE": "Fitness", "CATEGORY_ID": "2", "STAGE_ID": "C2:NEW"])
            var cursor: String?
            let items = try await F.pollAll(connector, cursor: &cursor)
            #expect(items.map { $0.dedupeKey.split(separator: ":")[1] } == ["\(mine.id)"])
        }
    }
}
