import DealSyncCore
import DealSyncStore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Testing

/// The decision feed's rows in the outbox (real PostgreSQL): written with every decided write in its transaction,
/// one link's published one at a time in the order decided, never merged, teaching no field state when
/// confirmed, and replayed as they were.
struct DecisionFeedRowsTests {
    typealias F = StoreFixtures
    let logger = TestPostgres.logger
    static let feed = "masterdeal.decisions"

    static let setup = F.setup(F.mapping, decisionFeed: feed)

    func context(_ database: Database) -> SyncContext { SyncContext(database: database, setup: Self.setup, logger: logger) }

    func fieldStates(_ database: Database) async throws -> String {
        let rows = try await database.client.query("SELECT coalesce(string_agg(states, ',' ORDER BY link_id), '') FROM link_fields")
        for try await text in rows.decode(String.self) { return text }
        return ""
    }

    @Test func everyDecidedWriteHasItsFeedRowPublishedInOrderAndConfirmedWithoutTouchingTheLink() async throws {
        try await TestPostgres.withDatabase { database in
            let inbox = InboxStore(database: database, logger: logger)
            let processor = InboxProcessor(context: context(database))
            _ = try await inbox.record(F.item([F.deal(title: "Сочи", at: 1000, version: 1)], key: "v1"))
            try await F.drain(processor)
            _ = try await inbox.record(F.item([F.deal(title: "Сочи, 7 ночей", stage: "won", at: 1010, version: 2)], key: "v2"))
            try await F.drain(processor)

            let writes = try await F.count("outbox", where: "target = 'tour'", in: database)
            #expect(writes == 2, "a create and an update of the lead")
            #expect(try await F.count("outbox", where: "target = '\(Self.feed)' AND link_id IS NULL", in: database) == writes)

            let claims = OutboxClaims(database: database, logger: logger)
            let outcomes = DeliveryOutcomes(context: context(database))
            try await claims.whilePresent(worker: "host:1") {
                // One link's decisions go one at a time, each its own event: the update waits for the create.
                let first = try await claims.claim(target: Self.feed, limit: 10, worker: "host:1", lease: .seconds(90), coalesce: 1)
                try #require(first.count == 1)
                let create = first[0].delivery
                #expect(create.operation == .create)
                #expect(create.idempotencyKey.hasPrefix("decided:"))
                #expect(create.masterDealID == "md-1")
                #expect(create.decided?.target == "tour" && create.decided?.connector == "tour")
                #expect(create.values == ["title": .text("Сочи"), "stage": .text("lead")], "the mapping's fields, canonical")
                #expect(try await claims.claim(target: Self.feed, limit: 10, worker: "host:1", lease: .seconds(90), coalesce: 1).isEmpty)

                let before = try await fieldStates(database)
                let done = AttemptRecord(status: 200, errorClass: "delivered", detail: "", worker: "host:1")
                #expect(try await outcomes.delivered(first[0], recordID: "md-1", landedAt: nil, attempt: done))
                #expect(try await fieldStates(database) == before, "a published decision teaches the link nothing")

                let second = try await claims.claim(target: Self.feed, limit: 10, worker: "host:1", lease: .seconds(90), coalesce: 1)
                try #require(second.count == 1)
                #expect(second[0].delivery.operation == .update)
                #expect(second[0].delivery.values == ["title": .text("Сочи, 7 ночей"), "stage": .text("won")])

                // Dead-lettered, then replayed by support: published again as it was decided.
                let refused = AttemptRecord(status: nil, errorClass: "validation", detail: "too large", worker: "host:1")
                #expect(try await outcomes.deadLetter(second[0], errorClass: .validation, attempt: refused))
                let letter = try #require(
                    try await DeadLetterStore(database: database, logger: logger)
                        .list(DeadLetterFilter(connector: Self.feed, since: nil, errorClass: nil, deal: nil, status: "open")).first)
                let replayed = try await DeadLetterReplay(context: outcomes.context).replay(letter.id, actor: "support", dryRun: false)
                #expect(replayed == .requeued(outboxID: second[0].head.id))
                let again = try await claims.claim(target: Self.feed, limit: 10, worker: "host:1", lease: .seconds(90), coalesce: 1)
                try #require(again.count == 1)
                #expect(again[0].delivery.idempotencyKey == second[0].delivery.idempotencyKey)
                #expect(again[0].delivery.decided == second[0].delivery.decided)
                #expect(again[0].delivery.values == second[0].delivery.values)
            }
        }
    }

    /// The feed rows' values, by target, oldest first.
    func published(_ database: Database) async throws -> [(target: String, operation: String, values: [String: FieldValue])] {
        let rows = try await database.client.query(
            "SELECT operation, payload::text FROM outbox WHERE target = \(Self.feed) ORDER BY id")
        var result: [(String, String, [String: FieldValue])] = []
        for try await (operation, payload) in rows.decode((String, String).self) {
            let stored = try OutboxPayload(jsonText: payload)
            result.append((stored.decided?.target ?? "?", operation, stored.values))
        }
        return result
    }

    @Test func aLeadDeletedInTheCRMPublishesTheDealsMoveToItsLostStage() async throws {
        var mapping = F.mapping
        mapping.deletes = .propagate(masterStage: "lost")
        let setup = F.setup(mapping, decisionFeed: Self.feed)
        try await TestPostgres.withDatabase { database in
            let inbox = InboxStore(database: database, logger: logger)
            let processor = InboxProcessor(context: SyncContext(database: database, setup: setup, logger: logger))
            _ = try await inbox.record(F.item([F.lead(title: "Сочи", at: 1000)], key: "lead-1"))
            _ = try await inbox.record(F.item([F.deal(title: "Сочи", at: 1000, version: 1)], key: "deal-1"))
            try await F.drain(processor)
            let before = try await published(database).count
            var deleted = F.lead(title: "Сочи", at: 1100)
            deleted.action = .delete
            _ = try await inbox.record(F.item([deleted], key: "lead-deleted"))
            try await F.drain(processor)
            let after = try await published(database)
            try #require(after.count == before + 1, "\(after)")
            let move = after[before]
            #expect(move.target == "masterdeal" && move.operation == "update")
            #expect(move.values == ["stage": .text("lost")])
        }
    }

    @Test func withoutAFeedNoRowIsWritten() async throws {
        try await TestPostgres.withDatabase { database in
            _ = try await InboxStore(database: database, logger: logger).record(
                F.item([F.deal(title: "Сочи", at: 1000, version: 1)], key: "v1"))
            try await F.drain(InboxProcessor(database: database, setup: F.setup, logger: logger))
            #expect(try await F.count("outbox", where: "target = 'tour'", in: database) == 1, "the decision was made")
            #expect(try await F.count("outbox", where: "target <> 'tour'", in: database) == 0)
        }
    }
}
