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
        #expect(QueueStatistics.due(open: [.inbox: minimum - 1, .outbox: 0], known: [:]).isEmpty)
        #expect(QueueStatistics.due(open: [.inbox: minimum, .outbox: 10], known: [:]) == [.inbox])
        // Grown by the minimum but not doubled, then doubled.
        #expect(QueueStatistics.due(open: [.inbox: 2 * minimum - 1], known: [.inbox: minimum]).isEmpty)
        #expect(QueueStatistics.due(open: [.inbox: 2 * minimum, .outbox: 5 * minimum], known: [.inbox: minimum]) == [.inbox, .outbox])
        // Doubled but by less than the minimum (a small queue's swings are the autovacuum's), and shrunk.
        #expect(QueueStatistics.due(open: [.inbox: 0, .outbox: 20], known: [.inbox: 50 * minimum, .outbox: 10]).isEmpty)
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
            #expect(try await QueueStatistics.known(database: database, logger: logger) == [.inbox: 0, .outbox: 0], "never analysed")
            try await receive(1...4_000, status: "processed")
            _ = try await database.client.query("ANALYZE inbox")
            try await receive(4_001...16_000, status: "pending")
            let before = try await QueueStatistics.known(database: database, logger: logger)
            #expect(before[.inbox] == 0, "analysed with nothing pending: \(before)")
            #expect(QueueStatistics.due(open: [.inbox: 12_000], known: before) == [.inbox])

            #expect(try await QueueStatistics.analyze(.inbox, database: database, logger: logger))
            let after = try await QueueStatistics.known(database: database, logger: logger)
            // Sampled: the whole table is in the sample at this size, so the estimate is about the count.
            #expect((11_400...12_600).contains(after[.inbox] ?? 0), "\(after)")
            #expect(QueueStatistics.due(open: [.inbox: 12_000], known: after).isEmpty)
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
