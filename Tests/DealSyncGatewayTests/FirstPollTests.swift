import DealSyncCore
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Testing

/// `poll.start` end to end: an amoCRM account that already holds leads, a gateway that never polled it.
@Suite(.serialized)
struct FirstPollTests {
    static let day = 86_400

    /// An account with history: leads last touched `ages` (seconds) ago, named by their age in days.
    static func options(poll: String, ages: [Int] = [400 * day, 30 * day, 2 * day]) -> SyncSystem.Options {
        var options = SyncSystem.Options()
        options.tourPollYAML = poll
        options.amo = { configuration in
            configuration.seedLeads = ages.map { age in
                AmoCRMSimulator.SeedLead(
                    name: "История \(age / day) дн.", price: 100_000, pipelineID: 7_001_000, statusID: 7_001_001,
                    responsibleUserID: 6_001_001, ageSeconds: age)
            }
        }
        return options
    }

    /// The tour connector's stored poll position (amoCRM's `from`, unix seconds), once it has one.
    static func cursorFrom(_ system: SyncSystem) async throws -> Int64? {
        let rows = try await system.database.client.query("SELECT (cursor->>'from')::int8 FROM poll_cursors WHERE connector = 'tour'")
        for try await from in rows.decode(Int64.self) { return from }
        return nil
    }

    static func historyNames(_ system: SyncSystem) -> Set<String> {
        Set(system.masterDeal.allDeals().map(\.opportunityName).filter { $0.hasPrefix("История") })
    }

    @Test func aConnectorNeverPolledStartsFromNowAndLeavesTheHistoryAlone() async throws {
        let before = Int64(Date().timeIntervalSince1970)
        try await SyncSystem.run(Self.options(poll: "poll: {interval: 1s, overlap: 2s}")) { system in
            system.amo.pauseWebhooks()  // only a poll can bring what follows
            try await system.eventually("the start is stored as the cursor") { try await Self.cursorFrom(system) != nil }
            let start = try #require(try await Self.cursorFrom(system))
            #expect(start >= before - 2 && start <= Int64(Date().timeIntervalSince1970), "the first poll's time, less the 2s overlap")

            // After the start: an old lead that changes, and a new one. Both are synced.
            let old = try #require(system.amo.allLeads().first { $0.name == "История 30 дн." })
            _ = try system.amo.editAsSalesperson(leadID: old.id, userID: 6_001_002, AmoLeadFields(name: "История 30 дн., снова"))
            let fresh = try system.amo.createAsSalesperson(
                userID: 6_001_001, AmoLeadFields(name: "Сочи, 7 ночей", price: 50_000, statusID: 7_001_001, pipelineID: 7_001_000))
            try await system.eventually("the changed and the new lead reach MasterDeal through a poll") {
                Set(system.masterDeal.allDeals().map(\.opportunityName)).isSuperset(of: ["История 30 дн., снова", "Сочи, 7 ночей"])
            }
            let cursor = try #require(try await Self.cursorFrom(system))
            #expect(cursor >= Int64(fresh.updatedAt) - 2, "the poll read past the new lead")

            // More polls go by; the leads nobody touched since the start never become deals.
            let polled = try await Self.lastPollStored(system)
            try await system.eventually("two more polls ran") { try await Self.lastPollStored(system) >= polled + 2000 }
            #expect(Self.historyNames(system) == ["История 30 дн., снова"])
            #expect(system.masterDeal.allDeals().count == 2, "\(system.masterDeal.allDeals().map(\.opportunityName))")
        }
    }

    @Test func startBeginningReadsTheWholeHistory() async throws {
        try await SyncSystem.run(Self.options(poll: "poll: {interval: 1s, overlap: 2s, start: beginning}")) { system in
            system.amo.pauseWebhooks()
            try await system.eventually("every old lead becomes a deal") {
                Self.historyNames(system) == ["История 400 дн.", "История 30 дн.", "История 2 дн."]
            }
            #expect(system.masterDeal.allDeals().count == 3)
        }
    }

    @Test func aStartDateReadsTheHistoryFromThatDateOn() async throws {
        let date = Timestamp.iso8601(seconds: Int64(Date().timeIntervalSince1970) - Int64(10 * Self.day))
        try await SyncSystem.run(Self.options(poll: "poll: {interval: 1s, overlap: 2s, start: \"\(date)\"}")) { system in
            system.amo.pauseWebhooks()
            try await system.eventually("the lead touched after the date becomes a deal") { Self.historyNames(system) == ["История 2 дн."] }
            let polled = try await Self.lastPollStored(system)
            try await system.eventually("two more polls ran") { try await Self.lastPollStored(system) >= polled + 2000 }
            #expect(Self.historyNames(system) == ["История 2 дн."])
        }
    }

    /// When the tour connector's last poll stored its cursor (unix milliseconds; every poll stores it).
    static func lastPollStored(_ system: SyncSystem) async throws -> Int64 {
        let rows = try await system.database.client.query(
            "SELECT (extract(epoch FROM updated_at) * 1000)::int8 FROM poll_cursors WHERE connector = 'tour'")
        for try await millis in rows.decode(Int64.self) { return millis }
        return 0
    }
}
