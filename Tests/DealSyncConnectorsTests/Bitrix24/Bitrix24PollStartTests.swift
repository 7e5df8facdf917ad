import DealSyncConnectors
import DealSyncCore
import DealSyncSimulators
import Foundation
import Testing

/// `pollCursor(startingAt:)`: a portal with history, read from an instant (the portal writes DATE_MODIFY in its
/// own offset, the cursor in UTC).
struct Bitrix24PollStartTests {
    typealias F = BitrixConnectorFixture

    static func deal(_ title: String, ageSeconds: Int) -> Bitrix24Simulator.SeedDeal {
        .init(fields: ["TITLE": title, "CATEGORY_ID": "2", "STAGE_ID": "C2:NEW"], createdBy: 12, ageSeconds: ageSeconds)
    }

    static func ids(_ items: [InboxItem]) -> Set<String> { Set(items.map { String($0.dedupeKey.split(separator: ":")[1]) }) }

    @Test func aCursorStartingAtAnInstantReadsOnlyWhatChangedFromThenOn() async throws {
        let simulator = F.simulator {
            $0.seedDeals = [Self.deal("year old", ageSeconds: 365 * 86_400), Self.deal("hour old", ageSeconds: 3600)]
        }
        try await simulator.withRunning { url in
            let connector = try F.connector(url: url)
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            var everything: String?
            let all = Self.ids(try await F.pollAll(connector, cursor: &everything))
            #expect(all.count == 2)

            var fromNow: String? = connector.pollCursor(startingAt: now - 5000)
            #expect(try await F.pollAll(connector, cursor: &fromNow).isEmpty, "the history is left alone")
            let fresh = simulator.createAsSalesperson(userID: 12, fields: ["TITLE": "new", "CATEGORY_ID": "2", "STAGE_ID": "C2:NEW"])
            #expect(Self.ids(try await F.pollAll(connector, cursor: &fromNow)) == ["\(fresh.id)"])

            var fromADayAgo: String? = connector.pollCursor(startingAt: now - 86_400_000)
            #expect(Self.ids(try await F.pollAll(connector, cursor: &fromADayAgo)).count == 2, "the hour-old deal and the new one")
        }
    }
}
