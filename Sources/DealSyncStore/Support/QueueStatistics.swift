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
/// statistics round (every 5 s) counts the open rows anyway; when a queue has grown to twice what it held at its last
/// analysis, and by at least ``minimumGrowth`` rows, it is analysed at once.
public struct QueueStatistics: Sendable {
    /// Growth smaller than this is left to the autovacuum.
    public static let minimumGrowth = 2_000

    /// Open rows of each queue when this process last analysed it.
    private var analysed: [Queue: Int] = [:]

    public init() {}

    /// The queues to analyse now, given how many rows each holds open.
    public func due(open: [Queue: Int]) -> [Queue] {
        Queue.allCases.filter { table in
            let now = open[table] ?? 0
            let then = analysed[table] ?? 0
            return now - then >= Self.minimumGrowth && now >= 2 * then
        }
    }

    /// `table` was analysed while it held `open` rows.
    public mutating func analysed(_ table: Queue, open: Int) {
        analysed[table] = open
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
