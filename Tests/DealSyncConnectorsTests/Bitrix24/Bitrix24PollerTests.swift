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
    @Test func dealsSharingOneSecondAreAllPolledExactlyOnce() async throws {
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
            let polled = Set(items.compactMap { Int($0.dedupeKey.split(separator: ":")[1]) })
            #expect(polled == Set(ids), "missing \(Set(ids).subtracting(polled).sorted().prefix(5))")
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
