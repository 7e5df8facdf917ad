import DealSyncStore
import DealSyncTestSupport
import PostgresNIO
import Testing

/// The queues are analysed when they grow past what the planner knows of them, and never by waiting for a lock.
struct QueueStatisticsTests {
    typealias F = StoreFixtures
    let logger = TestPostgres.logger

    @Test func aQueueIsDueOnceItHasDoubledAndGrownByTheMinimum() {
        var statistics = QueueStatistics()
        let minimum = QueueStatistics.minimumGrowth
        #expect(statistics.due(open: [.inbox: minimum - 1, .outbox: 0]).isEmpty)
        #expect(statistics.due(open: [.inbox: minimum, .outbox: 10]) == [.inbox])
        statistics.analysed(.inbox, open: minimum)
        // Grown by the minimum but not doubled, then doubled.
        #expect(statistics.due(open: [.inbox: 2 * minimum - 1]).isEmpty)
        #expect(statistics.due(open: [.inbox: 2 * minimum, .outbox: 5 * minimum]) == [.inbox, .outbox])
        statistics.analysed(.inbox, open: 50 * minimum)
        // Doubled but by less than the minimum (a small queue's swings are the autovacuum's).
        statistics.analysed(.outbox, open: 10)
        #expect(statistics.due(open: [.inbox: 0, .outbox: 20]).isEmpty)
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
