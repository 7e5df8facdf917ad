import DealSyncStore
import DealSyncTestSupport
import PostgresNIO
import Testing

/// The queues are analysed when they grow past what the planner knows of them, and never by waiting for a lock.
struct QueueStatisticsTests {
    typealias F = StoreFixtures
    let logger = TestPostgres.logger

    @Test func aQueueIsDueOnceItHoldsTwiceWhatThePlannerKnowsAndTheMinimumMore() {
        let minimum = QueueStatistics.minimumGrowth
        func known(_ open: Int, ago: Double? = nil, may: Bool = true) -> QueueStatistics.Known {
            QueueStatistics.Known(open: open, analysedSecondsAgo: ago, mayAnalyze: may)
        }
        let never = [QueueStatistics.Queue.inbox: known(0), .outbox: known(0)]
        #expect(QueueStatistics.due(open: [.inbox: minimum - 1, .outbox: 0], known: never).isEmpty)
        #expect(QueueStatistics.due(open: [.inbox: minimum, .outbox: 10], known: never) == [.inbox])
        // Grown by the minimum but not doubled, then doubled.
        #expect(QueueStatistics.due(open: [.inbox: 2 * minimum - 1], known: [.inbox: known(minimum)]).isEmpty)
        #expect(
            QueueStatistics.due(open: [.inbox: 2 * minimum, .outbox: 5 * minimum], known: [.inbox: known(minimum), .outbox: known(0)])
                == [.inbox, .outbox])
        // Doubled but by less than the minimum (a small queue's swings are the autovacuum's), and shrunk.
        #expect(QueueStatistics.due(open: [.inbox: 0, .outbox: 20], known: [.inbox: known(50 * minimum), .outbox: known(10)]).isEmpty)
        // Analysed a moment ago (its sample may have missed the open rows), then long enough ago.
        let recently = QueueStatistics.minimumInterval - 1
        #expect(QueueStatistics.due(open: [.inbox: 5 * minimum], known: [.inbox: known(0, ago: recently)]).isEmpty)
        #expect(QueueStatistics.due(open: [.inbox: 5 * minimum], known: [.inbox: known(0, ago: recently + 2)]) == [.inbox])
        // Not this role's to analyse, or unknown.
        #expect(QueueStatistics.due(open: [.inbox: 5 * minimum], known: [.inbox: known(0, may: false)]).isEmpty)
        #expect(QueueStatistics.due(open: [.inbox: 5 * minimum], known: [:]).isEmpty)
    }

    /// What the planner knows is PostgreSQL's, so a process that starts after an analysis does not analyse again:
    /// rows that arrived since the last analysis are unknown until the next one, and the rows it saw open are known.
    @Test func thePlannersEstimateIsReadFromTheStatistics() async throws {
        try await TestPostgres.withDatabase { database in
            for table in ["inbox", "outbox"] {
                _ = try await database.client.query(PostgresQuery(unsafeSQL: "ALTER TABLE \(table) SET (autovacuum_enabled = false)"))
            }
            func receive(_ range: ClosedRange<Int>, status: String) async throws {
                _ = try await database.client.query(
                    """
                    INSERT INTO inbox (connector, dedupe_key, source, body, lineage_id, status)
                    SELECT 'amo', 'event-' || g, 'webhook', convert_to(repeat('x', 300), 'UTF8'), gen_random_uuid(), \(status)
                    FROM generate_series(\(range.lowerBound), \(range.upperBound)) AS g
                    """)
            }
            let young = try await QueueStatistics.known(database: database, logger: logger)
            #expect(young[.inbox] == QueueStatistics.Known(open: 0, analysedSecondsAgo: nil, mayAnalyze: true), "never analysed")
            try await receive(1...2_000, status: "processed")
            try await receive(2_001...4_000, status: "pending")
            #expect(try await QueueStatistics.analyze(.inbox, database: database, logger: logger))
            // Sampled: the whole table is in the sample at this size, so the estimate is about the count.
            let analysed = try await QueueStatistics.known(database: database, logger: logger)
            #expect((1_900...2_100).contains(analysed[.inbox]?.open ?? 0), "\(analysed)")
            try await eventually("the analysis is dated") {
                (try await QueueStatistics.known(database: database, logger: logger)[.inbox]?.analysedSecondsAgo ?? 99) < 30
            }
            // The table doubles with the same mix, unseen by the statistics: the estimate follows its pages, as the
            // planner's does.
            try await receive(4_001...6_000, status: "processed")
            try await receive(6_001...8_000, status: "pending")
            let grown = try await QueueStatistics.known(database: database, logger: logger)
            #expect((3_700...4_300).contains(grown[.inbox]?.open ?? 0), "\(grown)")
            // Rows of another status are not open.
            try await receive(8_001...16_000, status: "processed")
            _ = try await database.client.query("ANALYZE inbox")
            let mostlyProcessed = try await QueueStatistics.known(database: database, logger: logger)
            #expect((3_700...4_300).contains(mostlyProcessed[.inbox]?.open ?? 0), "\(mostlyProcessed)")
        }
    }

    /// The share of the open statuses counts the outbox's writes in flight, and a role that does not own the queues
    /// may not analyse them.
    @Test func theOutboxsWritesInFlightAreOpenAndAnotherRoleMayNotAnalyse() async throws {
        try await TestPostgres.withDatabase { database in
            _ = try await database.client.query(
                """
                INSERT INTO outbox (target, record_key, operation, payload, idempotency_key, lineage_id, lane, status)
                SELECT 'masterdeal', 'link:' || g, 'create', '{"values": {}}'::jsonb, 'create-' || g, gen_random_uuid(), 'amo',
                    CASE WHEN g % 4 = 0 THEN 'in_flight' WHEN g % 4 = 1 THEN 'pending' ELSE 'done' END
                FROM generate_series(1, 8000) AS g
                """)
            _ = try await database.client.query("ANALYZE outbox")
            let known = try await QueueStatistics.known(database: database, logger: logger)
            #expect((3_800...4_200).contains(known[.outbox]?.open ?? 0), "pending and in flight: \(known)")

            let asReader = try await database.client.withConnection { connection in
                _ = try await connection.query("BEGIN", logger: logger)
                _ = try await connection.query("CREATE ROLE dealsync_reader NOLOGIN", logger: logger)
                _ = try await connection.query("GRANT SELECT ON inbox, outbox TO dealsync_reader", logger: logger)
                _ = try await connection.query("SET LOCAL ROLE dealsync_reader", logger: logger)
                let known = try await QueueStatistics.decode(connection.query(QueueStatistics.knownQuery, logger: logger))
                _ = try await connection.query("ROLLBACK", logger: logger)
                return known
            }
            #expect(asReader.count == 2 && asReader.values.allSatisfy { !$0.mayAnalyze }, "\(asReader)")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func anAnalysisRunsAndOneThatWouldWaitForALockIsSkipped() async throws {
        try await TestPostgres.withDatabase { database in
            let before = try await analyses(of: "outbox", in: database)
            #expect(try await QueueStatistics.analyze(.outbox, database: database, logger: logger))
            try await eventually("the analysis is counted") { try await analyses(of: "outbox", in: database) > before }

            // A vacuum (here a transaction in its stead) holds the lock an analysis needs, until the analysis is
            // over: one that waited for the lock would wait for ever.
            let analysed = try await database.client.checkedTransaction(logger: logger) { tx in
                try await tx.run("LOCK TABLE inbox IN SHARE UPDATE EXCLUSIVE MODE", logger: logger)
                return try await QueueStatistics.analyze(.inbox, database: database, logger: logger)
            }
            #expect(analysed == false)
        }
    }

    func analyses(of table: String, in database: Database) async throws -> Int {
        let rows = try await database.client.query(
            "SELECT (analyze_count + autoanalyze_count)::int8 FROM pg_stat_user_tables WHERE relname = \(table)", logger: logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }
}
