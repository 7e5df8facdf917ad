import DealSyncCore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Testing

@testable import DealSyncStore

/// The memo of parsed field states answers only the very text it parsed or was told, stays within its budget, and
/// is what a relay recording a lane's write reads its link's states from.
struct FieldStateMemoTests {
    typealias F = StoreFixtures

    static func states(_ title: String, at millis: Int64 = 1_000) -> [String: FieldState] {
        [
            "title": FieldState(
                decided: .text(title), decidedBy: .crm, decidedAt: SourceStamp(millis: millis), crm: SideState(known: .text(title)))
        ]
    }

    @Test func onlyTheSameBytesAreAnsweredFromTheMemo() throws {
        let memo = FieldStateMemo()
        let text = FieldState.jsonText(of: Self.states("Сочи"))
        #expect(try memo.states(link: 1, text: text) == Self.states("Сочи"))
        #expect(memo.counts == (hits: 0, misses: 1))
        #expect(try memo.states(link: 1, text: text) == Self.states("Сочи"))
        #expect(memo.counts == (hits: 1, misses: 1))
        // Another document of the link, and the same document of another link, are parsed.
        let edited = FieldState.jsonText(of: Self.states("Анапа"))
        #expect(try memo.states(link: 1, text: edited) == Self.states("Анапа"))
        #expect(try memo.states(link: 2, text: text) == Self.states("Сочи"))
        #expect(memo.counts == (hits: 1, misses: 3))
        // "é" written as one scalar or as two: equal as Swift strings, not the same bytes, not the same value stored.
        let composed = FieldState.jsonText(of: Self.states("Caf\u{E9}"))
        let decomposed = FieldState.jsonText(of: Self.states("Cafe\u{301}"))
        #expect(composed == decomposed)
        _ = try memo.states(link: 3, text: composed)
        let read = try memo.states(link: 3, text: decomposed)
        #expect(memo.counts == (hits: 1, misses: 5))
        guard case .text(let title)? = read["title"]?.decided else {
            Issue.record("no title read")
            return
        }
        #expect(Array(title.utf8) == Array("Cafe\u{301}".utf8))
        // What a session writes is answered when read back as written.
        memo.remember(link: 4, text: edited, states: Self.states("Анапа"))
        #expect(try memo.states(link: 4, text: edited) == Self.states("Анапа"))
        #expect(memo.counts == (hits: 2, misses: 5))
        #expect(throws: JSONShapeError.self) { try memo.states(link: 5, text: "{\"title\":") }
    }

    @Test func theOldestGoFirstAndTheMemoKeepsToItsBudget() throws {
        let texts = (10..<50).map { FieldState.jsonText(of: Self.states("лид \($0)", at: Int64(1_000 + $0))) }
        #expect(Set(texts.map(\.utf8.count)).count == 1)
        let budget = texts[0].utf8.count * 10
        let memo = FieldStateMemo(budget: budget)
        for (link, text) in texts.enumerated() { _ = try memo.states(link: Int64(link), text: text) }
        #expect(memo.size.links == 10)
        #expect(memo.size.bytes <= budget)
        let before = memo.counts
        _ = try memo.states(link: 39, text: texts[39])
        _ = try memo.states(link: 30, text: texts[30])
        #expect(memo.counts.hits == before.hits + 2, "the newest are held")
        _ = try memo.states(link: 0, text: texts[0])
        #expect(memo.counts.misses == before.misses + 1, "the oldest went")
        // One link written again and again keeps one entry, and its listings do not pile up.
        let parsed = try texts.prefix(2).map { try FieldState.states(jsonText: $0) }
        for round in 0..<20_000 { memo.remember(link: 7, text: texts[round % 2], states: parsed[round % 2]) }
        #expect(memo.size.links <= 10)
        #expect(memo.size.listings < 2 * memo.size.links + 1_100)
        // Nor do the listings of links evicted: a long run of new links keeps as many as it holds, give or take.
        for link in 1_000..<101_000 { memo.remember(link: Int64(link), text: texts[link % 40], states: [:]) }
        #expect(memo.size.links == 10)
        #expect(memo.size.listings < 2 * memo.size.links + 2_100)
        // A document larger than a quarter of the budget (though it would fit) is parsed every time, never held.
        let large = FieldState.jsonText(of: Self.states(String(repeating: "x", count: budget / 3)))
        #expect(large.utf8.count > budget / 4 && large.utf8.count < budget)
        _ = try memo.states(link: 50, text: large)
        _ = try memo.states(link: 50, text: large)
        #expect(memo.counts.misses == before.misses + 3)
    }

    /// In the gateway one context serves the lanes and the relays: the relay recording the create a lane decided
    /// reads the link's states from the memo, not from the text again.
    @Test func aRelayRecordingALanesWriteReadsTheStatesTheLaneWrote() async throws {
        try await TestPostgres.withDatabase { database in
            let logger = TestPostgres.logger
            let context = SyncContext(database: database, setup: F.setup, logger: logger)
            let inbox = InboxStore(database: database, logger: logger)
            let claims = OutboxClaims(database: database, logger: logger)
            _ = try await inbox.record(F.item([F.lead(title: "Сочи", at: 1000, master: nil)], key: "lead-1"))
            #expect(try await F.drain(InboxProcessor(context: context)) == [.processed(inboxID: 1, writes: 1, entries: 0)])
            let decided = context.fieldStates.counts
            try await claims.whilePresent(worker: "host:101") {
                let create = try #require(
                    try await claims.claim(target: "masterdeal", limit: 10, worker: "host:101", lease: .seconds(90)).first)
                #expect(
                    try await DeliveryOutcomes(context: context).delivered(
                        create, recordID: "md-1", landedAt: SourceStamp(seconds: 1001, version: 1),
                        attempt: AttemptRecord(status: 201, errorClass: "delivered", detail: "", worker: "host:101")))
            }
            #expect(context.fieldStates.counts.hits == decided.hits + 1)
            #expect(context.fieldStates.counts.misses == decided.misses)
            // What the relay's session wrote back is held too, and is what the stored text parses to.
            let rows = try await database.client.query("SELECT link_id, states FROM link_fields", logger: logger)
            var checked = 0
            for try await (link, text) in rows.decode((Int64, String).self) {
                #expect(try context.fieldStates.states(link: link, text: text) == FieldState.states(jsonText: text))
                checked += 1
            }
            #expect(checked == 1)
            #expect(context.fieldStates.counts.hits == decided.hits + 2)
        }
    }
}
