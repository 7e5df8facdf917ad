import DealSyncCore
import DealSyncStore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Testing

/// A lead new to MasterDeal is linked before its deal exists: the writes queued for the deal meanwhile are keyed by
/// the link, and once the create's answer names the deal they follow it. The outbox keeps every write ever
/// delivered, so finding those writes must not cost a read of the whole outbox on every relay round.
struct MasterWritesFollowTheDealTests {
    typealias F = StoreFixtures
    let logger = TestPostgres.logger

    @Test func writesQueuedBeforeTheDealExistedTakeItsIDWhenTheCreateIsConfirmed() async throws {
        try await TestPostgres.withDatabase { database in
            let inbox = InboxStore(database: database, logger: logger)
            let processor = InboxProcessor(database: database, setup: F.setup, logger: logger)
            let outcomes = DeliveryOutcomes(context: SyncContext(database: database, setup: F.setup, logger: logger))
            try await MasterCreateEchoTests.withCreateInFlight(database) { create in
                // The lead is renamed while its deal's create is in flight: the rename waits for the deal.
                _ = try await inbox.record(F.item([F.lead(title: "Сочи, 7 ночей", at: 1010, master: nil)], key: "lead-1-renamed"))
                let steps = try await F.drain(processor)
                #expect(steps.count == 1)
                guard case .processed(inboxID: 2, writes: 1, _)? = steps.first else {
                    Issue.record("the rename was not decided into one write: \(steps)")
                    return
                }
                #expect(
                    try await F.count(
                        "outbox", where: "target = 'masterdeal' AND operation = 'update' AND status = 'pending' AND master_deal_id IS NULL",
                        in: database) == 1)

                #expect(
                    try await outcomes.delivered(
                        create, recordID: "md-1", landedAt: SourceStamp(seconds: 1001, version: 1),
                        attempt: AttemptRecord(status: 201, errorClass: "delivered", detail: "", worker: "host:101")))
            }
            #expect(try await F.count("outbox", where: "target = 'masterdeal'", in: database) == 2)
            #expect(
                try await F.count("outbox", where: "target = 'masterdeal' AND master_deal_id = 'md-1'", in: database) == 2,
                "the confirmed create and the rename queued behind it both name the deal")
            #expect(
                try await F.count("outbox", where: "target = 'masterdeal' AND operation = 'create' AND status = 'done'", in: database) == 1)
        }
    }

    /// Run with sequential scans disabled, PostgreSQL still reads a table whole when no index can serve the
    /// statement: so a plan without one proves an index serves it, however the outbox's size sways the planner.
    @Test func movingWritesToTheirDealReadsTheOutboxThroughAnIndex() async throws {
        try await TestPostgres.withDatabase { database in
            _ = try await database.client.query(
                """
                INSERT INTO outbox (target, record_key, operation, payload, idempotency_key, lineage_id, status, lane)
                SELECT 'masterdeal', 'link:' || g, 'create', '{}', 'delivered-' || g, gen_random_uuid(), 'done', 'tour'
                FROM generate_series(1, 5000) AS g
                """)
            _ = try await database.client.query("ANALYZE outbox")
            let statement = DeliveryOutcomes.retargetStatement([(link: 1, master: "md-1")])
            try await database.client.withConnection { connection in
                _ = try await connection.query("SET enable_seqscan = off", logger: logger)
                let rows = try await connection.query(
                    PostgresQuery(unsafeSQL: "EXPLAIN " + statement.sql, binds: statement.binds), logger: logger)
                var plan: [String] = []
                for try await line in rows.decode(String.self) { plan.append(line) }
                #expect(!plan.isEmpty)
                #expect(!plan.contains { $0.contains("Seq Scan on outbox") }, "\(statement.sql)\n\(plan.joined(separator: "\n"))")
            }
        }
    }
}
