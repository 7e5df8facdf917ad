import DealSyncCore
import DealSyncStore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Testing

/// A relay's claim reads about a round of the backlog however many writes wait, even when PostgreSQL's statistics
/// were gathered while almost nothing waited (autovacuum gathers them again minutes after a bulk import): the
/// outbox is analysed holding 20,000 writes done and 10 waiting, then 20,000 more arrive unseen by the statistics.
/// Without the claim's settings PostgreSQL reads every waiting write (a bitmap of two indexes, each write checked
/// for being its record's head, then sorted), and its update joined the round to every open write.
struct ClaimPlanTests {
    typealias F = StoreFixtures

    static let waiting = 20_000

    @Test func aRelayClaimReadsARoundNotTheBacklog() async throws {
        try await TestPostgres.withDatabase { database in
            _ = try await database.client.query("ALTER TABLE outbox SET (autovacuum_enabled = false)")
            func enqueue(_ range: Range<Int>, status: String) async throws {
                _ = try await database.client.query(
                    """
                    INSERT INTO outbox (target, record_key, operation, payload, idempotency_key, lineage_id, lane, status)
                    SELECT 'masterdeal', 'link:' || g, 'create', '{"values": {}}'::jsonb, 'create-' || g, gen_random_uuid(), 'tour',
                        \(status)
                    FROM generate_series(\(range.lowerBound), \(range.upperBound - 1)) AS g
                    """)
            }
            try await enqueue(0..<Self.waiting, status: "done")
            try await enqueue(Self.waiting..<(Self.waiting + 10), status: "pending")
            _ = try await database.client.query("ANALYZE outbox")
            try await enqueue((Self.waiting + 10)..<(2 * Self.waiting), status: "pending")
            #expect(try await F.count("outbox", where: "status = 'pending'", in: database) == Self.waiting)

            let claim = OutboxClaims.claimHeads(target: "masterdeal", limit: 50, worker: "host:1", leaseSeconds: 90, interruption: "{}")
            let plan = try await F.analyzedPlan(of: claim, after: OutboxClaims.planning(timeout: nil), in: database)
            let bitmaps = plan.filter { $0["Node Type"] as? String == "Bitmap Heap Scan" }
            #expect(bitmaps.isEmpty, "no bitmap read of the waiting writes")
            // The lanes' candidates come from `outbox_lane_due` in id order: about a round of it is read.
            let candidates = F.rowsRead(from: "outbox", in: plan.filter { $0["Index Name"] as? String == "outbox_lane_due" })
            #expect(candidates > 0 && candidates <= 200, "rows of outbox_lane_due read to claim 50 of \(Self.waiting): \(candidates)")
            // The round's writes are locked and updated one by one through the primary key, never by walking an index.
            let byID = plan.filter {
                $0["Relation Name"] as? String == "outbox" && (($0["Index Cond"] as? String)?.hasPrefix("(id = ") ?? false)
            }
            #expect(byID.count == 2 && byID.allSatisfy { $0["Index Name"] as? String == "outbox_pkey" }, "\(byID)")
            let read = F.rowsRead(from: "outbox", in: plan)
            #expect(read > 0 && read <= 1_000, "rows of the outbox read in all to claim 50 of \(Self.waiting): \(read)")
        }
    }

    /// The relays run the claim as a prepared statement with one generic plan per connection, made by its first
    /// claim: often on an empty outbox, whose plan must still serve a backlog of 20,000 that statistics never saw.
    @Test func aPreparedClaimPlannedOnAnEmptyOutboxReadsARoundOfALaterBacklog() async throws {
        try await TestPostgres.withDatabase { database in
            _ = try await database.client.query("ALTER TABLE outbox SET (autovacuum_enabled = false)")
            // Constants: a utility statement's arguments cannot be bound parameters.
            let execute = PostgresQuery(unsafeSQL: "EXECUTE claim_round('masterdeal', 50, 'host:1', 90, '{}', NULL)")
            let plan = try await database.client.withConnection { connection in
                _ = try await connection.query(
                    PostgresQuery(
                        unsafeSQL: "PREPARE claim_round(text, int8, text, float8, text, int8) AS " + OutboxClaims.ClaimHeads.sql),
                    logger: TestPostgres.logger)
                // The first claim, on the empty outbox, makes the plan every later one runs.
                _ = try await connection.query("BEGIN", logger: TestPostgres.logger)
                _ = try await connection.query(OutboxClaims.planning(timeout: nil), logger: TestPostgres.logger)
                let first = try await connection.query(execute, logger: TestPostgres.logger)
                var claimedFirst = 0
                for try await _ in first { claimedFirst += 1 }
                #expect(claimedFirst == 0)
                _ = try await connection.query("COMMIT", logger: TestPostgres.logger)
                _ = try await connection.query(
                    """
                    INSERT INTO outbox (target, record_key, operation, payload, idempotency_key, lineage_id, lane, status)
                    SELECT 'masterdeal', 'link:' || g, 'create', '{"values": {}}'::jsonb, 'create-' || g, gen_random_uuid(), 'tour',
                        CASE WHEN g < \(Self.waiting) THEN 'done' ELSE 'pending' END
                    FROM generate_series(0, \(2 * Self.waiting - 1)) AS g
                    """, logger: TestPostgres.logger)
                _ = try await connection.query("BEGIN", logger: TestPostgres.logger)
                _ = try await connection.query(OutboxClaims.planning(timeout: nil), logger: TestPostgres.logger)
                let plan = try await F.analyzedPlan(of: execute, on: connection)
                _ = try await connection.query("ROLLBACK", logger: TestPostgres.logger)
                return plan
            }
            #expect(plan.first?["Actual Rows"] as? NSNumber == 50, "the round's 50 writes were claimed")
            let scans = plan.filter { $0["Node Type"] as? String == "Seq Scan" && $0["Relation Name"] as? String == "outbox" }
            #expect(scans.isEmpty, "no sequential read of the outbox: \(scans)")
            let read = F.rowsRead(from: "outbox", in: plan)
            #expect(read > 0 && read <= 1_000, "rows of the outbox read in all to claim 50 of \(Self.waiting): \(read)")
        }
    }

    /// A lane's claim reads its own rows while another lane holds a burst its statistics never saw: the inbox is
    /// analysed holding rows processed long ago, then 20,000 rows of one connector arrive and 5 of another.
    @Test func aLanesClaimReadsItsOwnRowsNotAnotherLanesBurst() async throws {
        try await TestPostgres.withDatabase { database in
            _ = try await database.client.query("ALTER TABLE inbox SET (autovacuum_enabled = false)")
            func receive(_ connector: String, _ range: Range<Int>, status: String) async throws {
                _ = try await database.client.query(
                    """
                    INSERT INTO inbox (connector, dedupe_key, source, body, lineage_id, status)
                    SELECT \(connector), 'event-' || g, 'webhook', convert_to(repeat('x', 300), 'UTF8'), gen_random_uuid(), \(status)
                    FROM generate_series(\(range.lowerBound), \(range.upperBound - 1)) AS g
                    """)
            }
            for connector in ["amo", "bitrix", "masterdeal"] { try await receive(connector, 0..<1_000, status: "processed") }
            _ = try await database.client.query("ANALYZE inbox")
            try await receive("amo", 1_000..<(1_000 + Self.waiting), status: "pending")
            try await receive("masterdeal", 1_000..<1_005, status: "pending")
            #expect(try await F.count("inbox", where: "status = 'pending'", in: database) == Self.waiting + 5)

            try await Self.expectLanesClaimReadsItsOwnRows(["masterdeal": 5, "amo": 200], in: database)
        }
    }

    /// A lane's claim reads its own rows by `inbox_lane` with statistics that know the table well: the inbox holds
    /// 7,000 rows processed and 5,000 pending, one lane's rows among another's, all analysed. The primary key walks
    /// them in id order too, and the table's order follows it, which made it look the cheaper way.
    @Test func aLanesClaimReadsItsOwnRowsWhateverTheTablesOrder() async throws {
        try await TestPostgres.withDatabase { database in
            _ = try await database.client.query("ALTER TABLE inbox SET (autovacuum_enabled = false)")
            _ = try await database.client.query(
                """
                INSERT INTO inbox (connector, dedupe_key, source, body, lineage_id, status)
                SELECT CASE WHEN g % 10 = 0 THEN 'masterdeal' ELSE 'amo' END, 'event-' || g, 'webhook',
                    convert_to(repeat('x', 300), 'UTF8'), gen_random_uuid(), CASE WHEN g <= 7000 THEN 'processed' ELSE 'pending' END
                FROM generate_series(1, 12000) AS g
                """)
            _ = try await database.client.query("ANALYZE inbox")
            try await Self.expectLanesClaimReadsItsOwnRows(["amo": 200, "masterdeal": 200], in: database)
        }
    }

    /// The earliest due write of a target, and the writes a round coalesces with its heads, are read by their own
    /// indexes while a backlog the statistics never saw waits: the outbox is analysed holding writes done long ago,
    /// then 20,000 writes for MasterDeal arrive, each with its link, and 5 for amoCRM.
    @Test func theEarliestDueWriteAndARoundsFollowersAreReadByKey() async throws {
        try await TestPostgres.withDatabase { database in
            _ = try await database.client.query("ALTER TABLE outbox SET (autovacuum_enabled = false)")
            _ = try await database.client.query(
                """
                INSERT INTO links (connector, record_id, master_deal_id)
                SELECT 'amo', 'lead-' || g, 'deal-' || g FROM generate_series(1, \(2 * Self.waiting)) AS g
                """)
            func enqueue(_ target: String, _ range: ClosedRange<Int>, status: String) async throws {
                _ = try await database.client.query(
                    """
                    INSERT INTO outbox (target, record_key, link_id, operation, payload, idempotency_key, lineage_id, lane, status)
                    SELECT \(target), 'link:' || g, g, 'update', '{"values": {}}'::jsonb, \(target) || '-' || g || '-' || \(status),
                        gen_random_uuid(), 'amo', \(status)
                    FROM generate_series(\(range.lowerBound), \(range.upperBound)) AS g
                    """)
            }
            try await enqueue("masterdeal", 1...Self.waiting, status: "done")
            _ = try await database.client.query("ANALYZE outbox")
            try await enqueue("masterdeal", (Self.waiting + 1)...(2 * Self.waiting), status: "pending")
            try await enqueue("amo", 1...5, status: "pending")
            #expect(try await F.count("outbox", where: "status = 'pending'", in: database) == Self.waiting + 5)

            for target in ["masterdeal", "amo"] {
                let plan = try await F.analyzedPlan(of: OutboxClaims.nextDueQuery(target: target), in: database)
                #expect(plan.first?["Actual Rows"] as? NSNumber == 1)
                let read = F.rowsRead(from: "outbox", in: plan)
                #expect(read > 0 && read <= 4, "rows of the outbox read for \(target)'s earliest due write: \(read)")
                // It is kept prepared (``KeptStatement``), outside the claims' planning: the generic plan PostgreSQL may
                // keep after its first calls reads as little.
                let generic = try await Self.genericPlan(
                    of: OutboxClaims.nextDueQuery(target: target), types: "text, text", values: "'\(target)', '\(target)'",
                    after: Self.genericOnly, in: database)
                let genericRead = F.rowsRead(from: "outbox", in: generic)
                #expect(genericRead > 0 && genericRead <= 4, "rows of the outbox read for \(target)'s earliest due write: \(genericRead)")
            }
            // Three heads, each with one pending write of its record after it.
            let keys = (Self.waiting + 1...Self.waiting + 3).map { "link:\($0)" }
            let followers = OutboxClaims.nextWrites(target: "masterdeal", heads: [0, 0, 0], recordKeys: keys, limit: 9)
            let plan = try await Self.genericPlan(
                of: followers, types: "int8[], text[], text, int8",
                values: "'{0,0,0}', '{\(keys.joined(separator: ","))}', 'masterdeal', 9",
                after: OutboxClaims.planning(timeout: nil), in: database)
            #expect(plan.first?["Actual Rows"] as? NSNumber == 3, "each head's next write was found")
            let read = F.rowsRead(from: "outbox", in: plan)
            #expect(read > 0 && read <= 6, "rows of the outbox read for three heads' next writes: \(read)")
        }
    }

    /// Rows named by id are locked through the primary key alone, never through a partial index of every open row,
    /// while a backlog the statistics never saw waits: a relay round's outcome locks its writes still in flight, a
    /// fetch's completion its rows still pending, and support's drop its dead letters still open. With the status
    /// compared as such, PostgreSQL proved the partial index applicable and read all of it for a bitmap of the ids
    /// (7,000 entries for a round's 50 writes in a quick benchmark's drain, 2.7 ms a round).
    @Test func rowsNamedByIDAreLockedThroughThePrimaryKey() async throws {
        try await TestPostgres.withDatabase { database in
            for table in ["outbox", "inbox", "dead_letters"] {
                _ = try await database.client.query(PostgresQuery(unsafeSQL: "ALTER TABLE \(table) SET (autovacuum_enabled = false)"))
            }
            func enqueue(_ range: ClosedRange<Int>, status: String) async throws {
                _ = try await database.client.query(
                    """
                    INSERT INTO outbox (target, record_key, operation, payload, idempotency_key, lineage_id, lane, status, claimed_by)
                    SELECT 'masterdeal', 'link:' || g, 'create', '{"values": {}}'::jsonb, 'create-' || g, gen_random_uuid(), 'amo',
                        \(status), 'host:1'
                    FROM generate_series(\(range.lowerBound), \(range.upperBound)) AS g
                    """)
            }
            func receive(_ range: ClosedRange<Int>, status: String) async throws {
                _ = try await database.client.query(
                    """
                    INSERT INTO inbox (id, connector, dedupe_key, source, body, lineage_id, status, fetched_by)
                    SELECT g, 'bitrix', 'event-' || g, 'webhook', convert_to(repeat('x', 300), 'UTF8'), gen_random_uuid(), \(status),
                        'host:1'
                    FROM generate_series(\(range.lowerBound), \(range.upperBound)) AS g
                    """)
            }
            func bury(_ range: ClosedRange<Int>, status: String) async throws {
                _ = try await database.client.query(
                    """
                    INSERT INTO dead_letters (id, outbox_id, connector, record_key, operation, payload, idempotency_key, lineage_id,
                        error_class, attempts, status)
                    SELECT g, g, 'masterdeal', 'link:' || g, 'create', '{}'::jsonb, 'create-' || g, gen_random_uuid(), 'permanent',
                        '[]'::jsonb, \(status)
                    FROM generate_series(\(range.lowerBound), \(range.upperBound)) AS g
                    """)
            }
            try await enqueue(1...Self.waiting, status: "done")
            try await receive(1...Self.waiting, status: "processed")
            try await bury(1...Self.waiting, status: "replayed")
            for table in ["outbox", "inbox", "dead_letters"] {
                _ = try await database.client.query(PostgresQuery(unsafeSQL: "ANALYZE \(table)"))
            }
            try await enqueue((Self.waiting + 1)...(2 * Self.waiting), status: "in_flight")
            try await receive((Self.waiting + 1)...(2 * Self.waiting), status: "pending")
            try await bury((Self.waiting + 1)...(2 * Self.waiting), status: "open")
            #expect(try await F.count("outbox", where: "status = 'in_flight'", in: database) == Self.waiting)
            #expect(try await F.count("inbox", where: "status = 'pending'", in: database) == Self.waiting)

            let ids = (Self.waiting + 1...Self.waiting + 50).map(Int64.init)
            for (table, query) in [
                ("outbox", DeliveryOutcomes.claimsQuery(ids)), ("inbox", InboxProcessor.fetchesOwnedQuery(ids)),
                ("dead_letters", DeadLetterStore.dropQuery(ids, reason: "duplicate", actor: "support")),
            ] {
                let plan = try await F.analyzedPlan(of: query, after: "SELECT 1", in: database)
                Self.expectLockedThroughThePrimaryKey(table, plan)
            }
            // A round's claims are kept prepared (``KeptStatement``) and checked first in its transaction, outside the
            // claims' planning: the generic plan PostgreSQL may keep after its first calls takes them by the key too.
            let idList = "'{" + ids.map(String.init).joined(separator: ",") + "}'"
            let generic = try await Self.genericPlan(
                of: DeliveryOutcomes.claimsQuery(ids), types: "int8[]", values: idList, after: Self.genericOnly, in: database)
            Self.expectLockedThroughThePrimaryKey("outbox", generic)
        }
    }

    static func expectLockedThroughThePrimaryKey(_ table: String, _ plan: [[String: Any]]) {
        #expect(plan.first?["Actual Rows"] as? NSNumber == 50, "the 50 rows were locked")
        var entries: [String: Int] = [:]
        for node in plan {
            guard let index = node["Index Name"] as? String, index.hasPrefix(table) else { continue }
            let rows = (node["Actual Rows"] as? NSNumber)?.intValue ?? 0
            entries[index, default: 0] += rows * ((node["Actual Loops"] as? NSNumber)?.intValue ?? 1)
        }
        #expect(Array(entries.keys) == ["\(table)_pkey"], "the \(table)'s indexes read: \(entries)")
        #expect((entries["\(table)_pkey"] ?? 0) <= 100, "entries of \(table)_pkey read for 50 ids: \(entries)")
    }

    /// A transaction's setup that asks for generic plans and nothing else: what a kept statement run outside the
    /// claims' and the saves' planning may be given.
    static let genericOnly: PostgresQuery = "SELECT set_config('plan_cache_mode', 'force_generic_plan', true)"

    /// Runs each lane's claim of up to 200 rows (its generic plan, after the claim's own settings) and checks that it
    /// claimed the lane's `due` rows and read at most twice as many rows of the inbox.
    static func expectLanesClaimReadsItsOwnRows(_ lanes: [String: Int], in database: Database) async throws {
        for (connector, due) in lanes.sorted(by: { $0.key < $1.key }) {
            let plan = try await genericPlan(
                of: InboxClaims.claimDue(connector: connector, limit: 200), types: "text, text, int8",
                values: "'\(connector)', '\(connector)', 200",
                after: InboxClaims.takeOverFetches(connector: connector), in: database)
            #expect(plan.first?["Actual Rows"] as? NSNumber == NSNumber(value: due), "\(connector)'s due rows were claimed")
            let read = F.rowsRead(from: "inbox", in: plan)
            #expect(read > 0 && read <= 2 * due, "rows of the inbox read to claim \(connector)'s \(due): \(read)")
        }
    }

    /// The plan a connection keeps for `query` and runs with `values` (`types` its parameters'): prepared and
    /// executed in a transaction that first runs `setup`, which asks for generic plans as the gateway's claims do,
    /// so the parameters are unknown when it is made. (`EXPLAIN` of a statement with bound values plans for them.)
    static func genericPlan(
        of query: PostgresQuery, types: String, values: String, after setup: PostgresQuery, in database: Database
    ) async throws -> [[String: Any]] {
        try await database.client.withConnection { connection in
            _ = try await connection.query("BEGIN", logger: TestPostgres.logger)
            _ = try await connection.query(setup, logger: TestPostgres.logger)
            _ = try await connection.query(
                PostgresQuery(unsafeSQL: "PREPARE planned(\(types)) AS " + query.sql), logger: TestPostgres.logger)
            let plan = try await F.analyzedPlan(of: PostgresQuery(unsafeSQL: "EXECUTE planned(\(values))"), on: connection)
            _ = try await connection.query("ROLLBACK", logger: TestPostgres.logger)
            _ = try await connection.query("DEALLOCATE planned", logger: TestPostgres.logger)
            return plan
        }
    }
}
