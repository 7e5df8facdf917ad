import DealSyncConnectors
import DealSyncCore
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import Testing

/// `poll(from:)`: pages in (`updated_at`, `id`) order, deals sharing one instant are each seen once, and the
/// next sweep re-reads an overlap before its watermark so nothing at or near the boundary is skipped.
struct MasterDealPollTests {
    struct Sweep {
        /// Every item polled, duplicates included, in order.
        var keys: [String] = []
        /// Items the inbox did not hold yet.
        var new = 0
        var pages = 0
    }

    /// One sweep as the gateway's poller runs it: read the stored cursor, poll, store the page and the cursor in
    /// one transaction, until no page has more.
    static func sweep(_ connector: MasterDealConnector, _ polls: PollStore) async throws -> Sweep {
        var sweep = Sweep()
        while sweep.pages < 50 {
            let cursor = try await polls.cursor(connector: connector.config.id)
            let result = try await connector.poll(from: cursor)
            #expect(result.items.count <= 200)
            #expect(result.items.allSatisfy { $0.source == .poll && $0.connector == connector.config.id })
            sweep.keys += result.items.map(\.dedupeKey)
            sweep.new += try await polls.store(result.items, cursor: result.cursor, connector: connector.config.id)
            sweep.pages += 1
            if !result.hasMore { return sweep }
        }
        throw FixtureFailure("the sweep did not end")
    }

    /// One sweep without a database: the cursor is carried by hand.
    static func sweep(_ connector: MasterDealConnector, from cursor: inout String?) async throws -> [String] {
        var keys: [String] = []
        for _ in 0..<50 {
            let result = try await connector.poll(from: cursor)
            keys += result.items.map(\.dedupeKey)
            cursor = result.cursor
            if !result.hasMore { return keys }
        }
        throw FixtureFailure("the sweep did not end")
    }

    static func key(_ deal: MasterDealSimulator.Deal) -> String { "deal:\(deal.id):v\(deal.version)" }

    @Test func manyDealsSharingOneUpdatedAtAreEachSeenOnce() async throws {
        let clock = ManualClock()
        let simulator = MasterDealSimulator(configuration: MasterDealFixture.simulatorConfiguration(clock: clock))
        let deals = try (0..<450).map { index in
            try simulator.createAsUser(["account_id": "acc-1", "opportunity_name": .string("Deal \(index)"), "stage": "lead"])
        }
        try #require(Set(deals.map(\.updatedAt)) == [clock.millis], "every deal shares one updated_at millisecond")

        try await TestPostgres.withDatabase { database in
            try await simulator.withRunning { baseURL in
                let connector = try MasterDealFixture.connector(baseURL: baseURL)
                let polls = PollStore(database: database, logger: MasterDealFixture.logger)
                let inbox = InboxStore(database: database, logger: MasterDealFixture.logger)
                let first = try await Self.sweep(connector, polls)
                #expect(first.pages == 3)
                #expect(first.keys.count == 450, "no deal is read twice within a sweep")
                #expect(Set(first.keys) == Set(deals.map(Self.key)), "no deal is skipped")
                #expect(first.new == 450)
                let rows = try await inbox.rows(connector: "masterdeal", limit: 10_000)
                #expect(rows.count == 450)
                #expect(rows.allSatisfy { $0.source == "poll" })

                // Edits at the watermark instant itself (the clock has not moved), then edits after it moved on.
                let atWatermark = try stride(from: 0, to: 450, by: 61).map {
                    try simulator.editAsUser(id: deals[$0].id, changes: ["stage": "qualified"])
                }
                try #require(atWatermark.allSatisfy { $0.updatedAt == clock.millis && $0.version == 2 })
                clock.advance(byMilliseconds: 1_500)
                let later = try [7, 107, 207, 307, 407].map {
                    try simulator.editAsUser(id: deals[$0].id, changes: ["owner_id": "u-ivan"])
                }
                let edited = Set((atWatermark + later).map(Self.key))
                try #require(edited.count == 13)

                let second = try await Self.sweep(connector, polls)
                #expect(second.new == edited.count)
                #expect(Set(second.keys).isSuperset(of: edited))
                let stored = try await inbox.rows(connector: "masterdeal", limit: 10_000)
                #expect(stored.count == 450 + edited.count)
                #expect(
                    Set(stored.map(\.dedupeKey)).subtracting(rows.map(\.dedupeKey)) == edited,
                    "exactly the edited versions are new")
            }
        }
    }

    /// A change at the very instant of the watermark, after the poll that set it, is found by the next poll, even
    /// with no overlap configured (`updated_since` is inclusive).
    @Test(arguments: ["0s", "2s"])
    func aChangeAtTheWatermarkInstantIsFoundByTheNextPoll(overlap: String) async throws {
        let clock = ManualClock()
        let simulator = MasterDealSimulator(configuration: MasterDealFixture.simulatorConfiguration(clock: clock))
        let deals = try (0..<3).map { index in
            try simulator.createAsUser(["account_id": "acc-1", "opportunity_name": .string("Deal \(index)"), "stage": "lead"])
        }
        try await simulator.withRunning { baseURL in
            let connector = try MasterDealFixture.connector(baseURL: baseURL, .init(overlap: overlap))
            var cursor: String?
            #expect(Set(try await Self.sweep(connector, from: &cursor)) == Set(deals.map(Self.key)))

            let edited = try simulator.editAsUser(id: deals[1].id, changes: ["stage": "qualified"])
            let added = try simulator.createAsUser(["account_id": "acc-1", "opportunity_name": "Deal 3", "stage": "lead"])
            try #require(edited.updatedAt == deals[0].updatedAt && added.updatedAt == deals[0].updatedAt)

            let next = Set(try await Self.sweep(connector, from: &cursor))
            #expect(next.contains(Self.key(edited)))
            #expect(next.contains(Self.key(added)))

            // Nothing changed since: the next sweep finds nothing it has not seen.
            let seen = Set(deals.map(Self.key)).union(next)
            #expect(Set(try await Self.sweep(connector, from: &cursor)).isSubset(of: seen))
        }
    }

    /// A change that becomes visible late with an `updated_at` before the watermark (a transaction that committed
    /// after a later one) is found while it is within the overlap, including its fraction of a second.
    @Test func aLateChangeWithinTheOverlapIsFoundByTheNextPoll() async throws {
        let clock = ManualClock()
        let simulator = MasterDealSimulator(configuration: MasterDealFixture.simulatorConfiguration(clock: clock))
        let deals = try (0..<2).map { index in
            try simulator.createAsUser(["account_id": "acc-1", "opportunity_name": .string("Deal \(index)"), "stage": "lead"])
        }
        try await simulator.withRunning { baseURL in
            let connector = try MasterDealFixture.connector(baseURL: baseURL, .init(overlap: "1500ms"))
            var cursor: String?
            #expect(Set(try await Self.sweep(connector, from: &cursor)) == Set(deals.map(Self.key)))

            clock.advance(byMilliseconds: -1_200)
            let late = try simulator.createAsUser(["account_id": "acc-1", "opportunity_name": "Late", "stage": "lead"])
            try #require(late.updatedAt == deals[0].updatedAt - 1_200)

            let next = try await Self.sweep(connector, from: &cursor)
            #expect(next.contains(Self.key(late)), "1.5 s of overlap re-reads a change 1.2 s before the watermark")
        }
    }
}

extension MasterDealPollTests {
    /// `pollCursor(startingAt:)`: deals updated before the instant are left alone, a deal changed at or after it
    /// is read.
    @Test func aCursorStartingAtAnInstantReadsOnlyWhatChangedFromThenOn() async throws {
        let clock = ManualClock()
        let simulator = MasterDealSimulator(configuration: MasterDealFixture.simulatorConfiguration(clock: clock))
        let old = try (0..<3).map { index in
            try simulator.createAsUser(["account_id": "acc-1", "opportunity_name": .string("Old \(index)"), "stage": "lead"])
        }
        clock.advance(byMilliseconds: 60_000)
        let start = clock.millis
        try await simulator.withRunning { baseURL in
            let connector = try MasterDealFixture.connector(baseURL: baseURL)
            var cursor: String? = connector.pollCursor(startingAt: start)
            #expect(try await Self.sweep(connector, from: &cursor).isEmpty, "the history is left alone")
            let edited = try simulator.editAsUser(id: old[1].id, changes: ["stage": "qualified"])
            #expect(try await Self.sweep(connector, from: &cursor) == [Self.key(edited)])
            var fromBefore: String? = connector.pollCursor(startingAt: start - 120_000)
            #expect(Set(try await Self.sweep(connector, from: &fromBefore)).count == 3)
        }
    }
}
