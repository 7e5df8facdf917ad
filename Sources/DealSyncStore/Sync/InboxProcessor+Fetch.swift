import DealSyncCore
import Foundation
import Logging
import PostgresNIO

extension InboxProcessor {
    /// Stores the records a row asked for and marks the row processed, in one transaction, if the fetch is still
    /// `worker`'s. Returns false, storing nothing, when another process took the fetch over.
    @discardableResult
    public func completeFetch(inboxID: Int64, fetched: [InboxItem], worker: String? = nil) async throws -> Bool {
        try await completeFetches([(inboxID, fetched)], worker: worker).contains(inboxID)
    }

    /// Stores the records of many fetched rows and marks those rows processed, in one transaction; only the rows
    /// whose fetch is still `worker`'s count. Returns the ids of the rows completed.
    public func completeFetches(_ results: [(inboxID: Int64, fetched: [InboxItem])], worker: String? = nil) async throws -> Set<Int64> {
        guard !results.isEmpty else { return [] }
        return try await context.database.transaction(logger: logger) { tx, notices in
            let owned = try await Self.fetchesOwned(results.map(\.inboxID), by: worker, on: tx, logger: logger)
            let kept = results.filter { owned.contains($0.inboxID) }
            _ = try await InboxRecords.insert(kept.flatMap(\.fetched), notices: notices, on: tx, logger: logger)
            if !kept.isEmpty {
                try await tx.query(
                    "UPDATE inbox SET status = 'processed', processed_at = now(), error = NULL WHERE id = ANY(\(kept.map(\.inboxID)))",
                    logger: logger)
            }
            return Set(kept.map(\.inboxID))
        }
    }

    /// Puts a row back for a later attempt (a transient database error, a decision that must wait).
    public func retry(_ inboxID: Int64, error: String, delaySeconds: Double? = nil) async throws {
        try await reschedule([inboxID], error: error, delaySeconds: delaySeconds ?? 1, onlyIfFetchedBy: nil)
    }

    /// Puts rows whose fetch failed back for a later attempt, if the fetch is still `worker`'s: a late failure from
    /// a process whose fetch was taken over changes nothing.
    public func retryFetch(_ inboxID: Int64, worker: String?, error: String, delaySeconds: Double) async throws {
        try await retryFetches([inboxID], worker: worker, error: error, delaySeconds: delaySeconds)
    }

    public func retryFetches(_ inboxIDs: [Int64], worker: String?, error: String, delaySeconds: Double) async throws {
        try await reschedule(inboxIDs, error: error, delaySeconds: delaySeconds, onlyIfFetchedBy: .some(worker))
    }

    /// Backs pending rows off exponentially, failing them after too many attempts; with `onlyIfFetchedBy`, only
    /// while their fetch is that worker's.
    private func reschedule(_ ids: [Int64], error: String, delaySeconds: Double, onlyIfFetchedBy owner: String??) async throws {
        try await context.database.client.query(
            """
            UPDATE inbox SET attempts = attempts + 1, error = \(String(error.prefix(500))), fetched_by = NULL,
                next_attempt_at = now() + make_interval(secs => \(delaySeconds) * least(60, power(2, attempts)::float8 - 1)),
                status = CASE WHEN attempts + 1 >= \(Self.maxAttempts * 2) THEN 'failed' ELSE status END
            WHERE id = ANY(\(ids)) AND \(unescaped: StatusByID.is("pending"))
              AND (NOT \(owner != nil) OR fetched_by IS NOT DISTINCT FROM \(owner ?? nil))
            """, logger: logger)
    }

    /// Locks `ids` and returns those still pending and fetched by `worker`.
    static func fetchesOwned(_ ids: [Int64], by worker: String?, on tx: PostgresConnection, logger: Logger) async throws -> Set<Int64> {
        let rows = try await tx.query(fetchesOwnedQuery(ids), logger: logger)
        var owned: Set<Int64> = []
        for try await (id, owner) in rows.decode((Int64, String?).self) where owner == worker { owned.insert(id) }
        return owned
    }

    /// The rows `ids` still pending, locked, with who fetches them (``StatusByID``: through the primary key, not all of
    /// `inbox_lane`, a bulk import's 100,000 pending rows).
    package static func fetchesOwnedQuery(_ ids: [Int64]) -> PostgresQuery {
        "SELECT id, fetched_by FROM inbox WHERE id = ANY(\(ids)) AND \(unescaped: StatusByID.is("pending")) ORDER BY id FOR UPDATE"
    }
}
