import Logging
import PostgresNIO

/// Keeps the planner's statistics of the queues (the inbox and the outbox) in step with their size.
///
/// A bulk import fills a queue that was small or empty a minute before, faster than the autovacuum's next look
/// (`autovacuum_naptime`, a minute by default) analyses it; until then PostgreSQL plans the claims as for a small
/// table, and they read the wrong partial index with a filter: in the benchmark's 100,000-lead drain the inbox's claim
/// read `inbox_pending` (every lane's rows) instead of `inbox_lane`, and the earliest due write read `outbox_by_link`
/// (every open write) instead of `outbox_due`, 250 ms a call, which halved the drain (migration 12 since took those
/// wrong indexes away from those statements; statistics of the right size still plan everything else). The gateway's
/// statistics round (every 5 s) counts the open rows anyway; when a queue holds twice the open rows the planner's
/// statistics give it, and at least ``minimumGrowth`` more, it is analysed at once.
///
/// What the planner knows is read from PostgreSQL (``known(database:logger:)``), not remembered by the process: an
/// analysis reads the same 30,000 sampled rows whatever is open, 2 s on an outbox of 200 MB, and a process that counted
/// from its own start analysed the outbox anew each time a freshness run's few thousand writes doubled, a fifth of
/// PostgreSQL's time at 500 changes a second.
public enum QueueStatistics {
    /// Growth smaller than this is left to the autovacuum: a claim misplanned for a few thousand rows reads them
    /// in a few milliseconds until the autovacuum's next look, while an analysis reads its sample whatever is open
    /// (2 to 2.5 s on the benchmark's 200 MB outbox, twice in a 20 s step at 500 changes a second with 2,000).
    public static let minimumGrowth = 10_000

    /// A queue analysed less than this many seconds ago (by anyone: another process, the autovacuum) is not analysed
    /// again. An analysis whose sample misses the open rows (a table of many millions) leaves the estimate where it was,
    /// and without this the queue would be analysed anew every round.
    public static let minimumInterval: Double = 60

    /// What PostgreSQL knows of a queue.
    public struct Known: Sendable, Equatable {
        /// The open rows the planner takes it to hold.
        public var open: Int
        /// Seconds since its last analysis, by anyone; `nil` when it was never analysed.
        public var analysedSecondsAgo: Double?
        /// Whether this role may analyse it (its owner's, the database owner's, or a superuser); another gets only a
        /// warning in PostgreSQL's log, and its gateway leaves the queue to the autovacuum.
        public var mayAnalyze: Bool

        public init(open: Int, analysedSecondsAgo: Double?, mayAnalyze: Bool) {
            self.open = open
            self.analysedSecondsAgo = analysedSecondsAgo
            self.mayAnalyze = mayAnalyze
        }
    }

    /// The queues to analyse now, given how many rows each holds open and what PostgreSQL knows of it.
    public static func due(open: [Queue: Int], known: [Queue: Known]) -> [Queue] {
        Queue.allCases.filter { table in
            guard let known = known[table], known.mayAnalyze else { return false }
            if let ago = known.analysedSecondsAgo, ago < minimumInterval { return false }
            let now = open[table] ?? 0
            return now - known.open >= minimumGrowth && now >= 2 * known.open
        }
    }

    /// What PostgreSQL knows of each queue. The open rows as the planner estimates them: the statistics' share of the
    /// open statuses (the most common values of `status`; none when the last sample held none) times the rows it takes
    /// the table to hold, scaled to the table's size now as the planner scales it; zero for a queue never analysed.
    public static func known(database: Database, logger: Logger) async throws -> [Queue: Known] {
        try await decode(database.client.query(knownQuery, logger: logger))
    }

    /// The statement ``known(database:logger:)`` runs (the tests run it under another role).
    package static let knownQuery: PostgresQuery = """
        SELECT c.relname::text, (CASE WHEN c.relpages > 0 AND c.reltuples > 0
                THEN c.reltuples / c.relpages * (pg_relation_size(c.oid) / current_setting('block_size')::int8)
                ELSE 0 END
            * coalesce((
                SELECT sum(m.frequency) FROM pg_stats s
                CROSS JOIN LATERAL unnest(s.most_common_vals::text::text[], s.most_common_freqs) AS m(value, frequency)
                WHERE s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = 'status' AND NOT s.inherited
                  AND (m.value = 'pending' OR (c.relname = 'outbox' AND m.value = 'in_flight'))), 0))::float8,
            extract(epoch FROM now() - greatest(t.last_analyze, t.last_autoanalyze))::float8,
            pg_has_role(c.relowner, 'USAGE')
                OR pg_has_role((SELECT datdba FROM pg_database WHERE datname = current_database()), 'USAGE')
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_stat_user_tables t ON t.relid = c.oid
        WHERE c.oid IN ('inbox'::regclass, 'outbox'::regclass)
        """

    package static func decode<Rows: AsyncSequence>(_ rows: Rows) async throws -> [Queue: Known] where Rows.Element == PostgresRow {
        var known: [Queue: Known] = [:]
        for try await row in rows {
            let (name, estimate, ago, mayAnalyze) = try row.decode((String, Double, Double?, Bool).self)
            if let queue = Queue(rawValue: name) {
                known[queue] = Known(open: Int(estimate.rounded()), analysedSecondsAgo: ago, mayAnalyze: mayAnalyze)
            }
        }
        return known
    }

    /// Analyses `table` (`inbox` or `outbox`) unless that would wait: an autovacuum of the table holds the lock an
    /// analysis needs, and waiting for it would hold the statistics round (and, after `deadlock_timeout`, cancel the
    /// vacuum). Returns whether it was analysed.
    public static func analyze(_ table: Queue, database: Database, logger: Logger) async throws -> Bool {
        do {
            try await database.client.checkedTransaction(logger: logger) { tx in
                try await tx.run("SELECT set_config('lock_timeout', '100ms', true)", logger: logger)
                try await tx.run(PostgresQuery(unsafeSQL: "ANALYZE \(table.rawValue)"), logger: logger)
            }
            return true
        } catch let error as TransactionError where (error.closureError as? PSQLError)?.serverInfo?[.sqlState] == "55P03" {
            return false
        }
    }

    public enum Queue: String, Sendable, CaseIterable {
        case inbox, outbox
    }
}
