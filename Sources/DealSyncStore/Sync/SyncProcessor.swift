import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// Turns inbox rows into decisions, one transaction per row.
///
/// In that transaction it claims the row (`FOR UPDATE SKIP LOCKED`), locks every link the row touches, runs the
/// decision engine, writes the field state, the outbox rows and the divergence entries, and marks the row
/// processed. A failure anywhere rolls all of it back and the row is retried later.
public final class SyncProcessor: Sendable {
    let database: Database
    let setup: SyncSetup
    let logger: Logger
    /// Test hook: called at named points inside the transaction; throwing there simulates a crash.
    let checkpoint: (@Sendable (String) throws -> Void)?
    /// Told about every committed row and divergence entry (metrics).
    let observer: Observer?

    /// Callbacks for metrics; called after the work they report is committed.
    public struct Observer: Sendable {
        public var processed: @Sendable (_ connector: String, _ result: String) -> Void
        public var divergence: @Sendable (_ connector: String, _ kind: DivergenceEntry.Kind) -> Void

        public init(processed: @escaping @Sendable (String, String) -> Void,
                    divergence: @escaping @Sendable (String, DivergenceEntry.Kind) -> Void) {
            self.processed = processed
            self.divergence = divergence
        }
    }

    public init(database: Database, setup: SyncSetup, logger: Logger, checkpoint: (@Sendable (String) throws -> Void)? = nil,
                observer: Observer? = nil) {
        self.database = database
        self.setup = setup
        self.logger = logger
        self.checkpoint = checkpoint
        self.observer = observer
    }

    public typealias Decoder = @Sendable (InboxRow) throws -> DecodeOutcome

    /// What one call to ``processNext(decode:)`` did.
    public enum Step: Sendable, Equatable {
        case idle
        case processed(inboxID: Int64, writes: Int, entries: Int)
        case ignored(inboxID: Int64, reason: String)
        /// The row waits until its records are fetched; call ``completeFetch(inboxID:fetched:)``.
        case fetch(inboxID: Int64, requests: [FetchRequest], lineage: UUID)
        case failed(inboxID: Int64, error: String)
        case deferred(inboxID: Int64)
    }

    /// How long a row that asked for a fetch stays claimed before it is tried again.
    static let fetchLease: Double = 60
    /// How soon a fetch whose worker is no longer present (its process died) is taken over.
    static let fetchTakeover: Double = 5
    static let maxAttempts = 12

    /// Processes the oldest due inbox row. `worker` names the process's relays' presence: a fetch it starts is
    /// taken over by another process soon after this one dies, instead of after the whole fetch lease.
    public func processNext(decode: Decoder, worker: String? = nil) async throws -> Step {
        var claimed: Int64?
        var connector = ""
        var entries: [(String, DivergenceEntry.Kind)] = []
        do {
            let step = try await database.client.withTransaction(logger: logger) { tx -> Step in
                guard let row = try await Self.claim(on: tx, logger: logger) else { return .idle }
                claimed = row.id
                connector = row.item.connector
                let outcome: DecodeOutcome
                do {
                    outcome = row.item.source == .refetch
                        ? .fetch([try StoreJSON.decode(FetchRequest.self, from: String(decoding: row.item.body, as: UTF8.self))])
                        : try decode(row)
                } catch {
                    try await Self.finish(row.id, status: "failed", error: "cannot decode: \(error)", on: tx, logger: logger)
                    return .failed(inboxID: row.id, error: "\(error)")
                }
                switch outcome {
                case .ignore(let reason):
                    try await Self.finish(row.id, status: "ignored", error: reason, on: tx, logger: logger)
                    return .ignored(inboxID: row.id, reason: reason)
                case .fetch(let requests):
                    // A fetch started this often never completed (each crash or takeover counts one): give up.
                    if row.attempts + 1 >= Self.maxAttempts * 2 {
                        let reason = "gave up: its records were asked for \(row.attempts + 1) times and never arrived"
                        try await Self.finish(row.id, status: "failed", error: reason, on: tx, logger: logger)
                        return .failed(inboxID: row.id, error: reason)
                    }
                    try await tx.query(
                        """
                        UPDATE inbox SET next_attempt_at = now() + make_interval(secs => \(Self.fetchLease)), attempts = attempts + 1,
                            fetched_by = \(worker) WHERE id = \(row.id)
                        """,
                        logger: logger)
                    return .fetch(inboxID: row.id, requests: requests, lineage: row.item.lineageID)
                case .observations(let observations):
                    var totals = (writes: 0, entries: 0)
                    for (index, observation) in observations.enumerated() {
                        let context = ObservationContext(
                            tx: tx, inboxID: row.id, cause: "inbox:\(row.id):\(index)", lineage: row.item.lineageID,
                            attempts: row.attempts)
                        let result = try await process(observation, context)
                        totals.writes += result.writes
                        totals.entries += result.entries
                        entries += result.kinds
                    }
                    try checkpoint?("before-commit")
                    try await Self.finish(row.id, status: "processed", error: nil, on: tx, logger: logger)
                    return .processed(inboxID: row.id, writes: totals.writes, entries: totals.entries)
                }
            }
            if let observer {
                switch step {
                case .processed: observer.processed(connector, "processed")
                case .ignored: observer.processed(connector, "ignored")
                case .failed: observer.processed(connector, "failed")
                case .fetch: observer.processed(connector, "fetch")
                case .idle, .deferred: break
                }
                for (entryConnector, kind) in entries { observer.divergence(entryConnector, kind) }
            }
            return step
        } catch let error as RetryLater {
            try await retry(error.inboxID, error: "waiting for the link of a deal dealsync created", delaySeconds: error.delay)
            return .deferred(inboxID: error.inboxID)
        } catch let error as PostgresTransactionError {
            if let retry = error.closureError as? RetryLater {
                try await self.retry(retry.inboxID, error: "waiting for the link of a deal dealsync created", delaySeconds: retry.delay)
                return .deferred(inboxID: retry.inboxID)
            }
            guard let claimed else { throw error }
            // The transaction rolled back (a deadlock, a lost connection, a bug): the row waits and is tried again.
            let reason = error.closureError.map { String(describing: $0) } ?? "the transaction failed"
            try? await retry(claimed, error: reason)
            return .failed(inboxID: claimed, error: reason)
        }
    }

    /// Stores the records a row asked for and marks the row processed, in one transaction, if the fetch is still
    /// `worker`'s (the one ``processNext(decode:worker:)`` was given). Returns false, storing nothing, when another
    /// process took the fetch over: its newer fetch is the one that counts.
    @discardableResult
    public func completeFetch(inboxID: Int64, fetched: [InboxItem], worker: String? = nil) async throws -> Bool {
        try await database.client.withTransaction(logger: logger) { tx in
            guard try await Self.fetchIsOwned(inboxID, by: worker, on: tx, logger: logger) else { return false }
            _ = try await InboxStore.insert(fetched, on: tx, logger: logger)
            try await Self.finish(inboxID, status: "processed", error: nil, on: tx, logger: logger)
            return true
        }
    }

    /// Puts a row back for a later attempt (a transient database error, a decision that must wait).
    public func retry(_ inboxID: Int64, error: String, delaySeconds: Double? = nil) async throws {
        try await reschedule(inboxID, error: error, delaySeconds: delaySeconds ?? 1, onlyIfFetchedBy: nil)
    }

    /// Puts a row whose fetch failed back for a later attempt, if the fetch is still `worker`'s: a late failure
    /// from a process whose fetch was taken over changes nothing.
    public func retryFetch(_ inboxID: Int64, worker: String?, error: String, delaySeconds: Double) async throws {
        try await reschedule(inboxID, error: error, delaySeconds: delaySeconds, onlyIfFetchedBy: .some(worker))
    }

    /// Backs a pending row off exponentially, failing it after too many attempts; with `onlyIfFetchedBy`, only
    /// while its fetch is that worker's.
    private func reschedule(_ inboxID: Int64, error: String, delaySeconds: Double, onlyIfFetchedBy owner: String??) async throws {
        try await database.client.query(
            """
            UPDATE inbox SET attempts = attempts + 1, error = \(String(error.prefix(500))), fetched_by = NULL,
                next_attempt_at = now() + make_interval(secs => \(delaySeconds) * least(60, power(2, attempts)::float8 - 1)),
                status = CASE WHEN attempts + 1 >= \(Self.maxAttempts * 2) THEN 'failed' ELSE status END
            WHERE id = \(inboxID) AND status = 'pending' AND (NOT \(owner != nil) OR fetched_by IS NOT DISTINCT FROM \(owner ?? nil))
            """, logger: logger)
    }

    static func fetchIsOwned(_ inboxID: Int64, by worker: String?, on tx: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await tx.query(
            "SELECT fetched_by FROM inbox WHERE id = \(inboxID) AND status = 'pending' FOR UPDATE", logger: logger)
        for try await owner in rows.decode(String?.self) { return owner == worker }
        return false
    }

    static func claim(on tx: PostgresConnection, logger: Logger) async throws -> InboxRow? {
        let rows = try await tx.query(
            """
            SELECT id, connector, dedupe_key, source, headers::text, content_type, body, lineage_id, attempts, received_at
            FROM inbox WHERE status = 'pending' AND (next_attempt_at <= now()
                OR (fetched_by IS NOT NULL AND next_attempt_at <= now() + make_interval(secs => \(fetchLease - fetchTakeover))
                    AND hashtext(fetched_by)::oid NOT IN (\(unescaped: OutboxClaims.presentWorkers))))
            ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
            """, logger: logger)
        for try await (id, connector, key, source, headers, contentType, body, lineage, attempts, received) in rows.decode(
            (Int64, String, String, String, String, String?, Data, UUID, Int, Date).self)
        {
            let item = InboxItem(
                connector: connector, dedupeKey: key, source: InboxItem.Source(rawValue: source) ?? .webhook,
                headers: (try? StoreJSON.decode([String: String].self, from: headers)) ?? [:], contentType: contentType,
                body: body, lineageID: lineage)
            return InboxRow(id: id, item: item, attempts: attempts, receivedAt: received)
        }
        return nil
    }

    static func finish(_ id: Int64, status: String, error: String?, on tx: PostgresConnection, logger: Logger) async throws {
        try await tx.query(
            "UPDATE inbox SET status = \(status), processed_at = now(), error = \(error.map { String($0.prefix(500)) }) WHERE id = \(id)",
            logger: logger)
    }
}

/// Where an observation comes from, inside its row's transaction.
struct ObservationContext {
    var tx: PostgresConnection
    var inboxID: Int64
    var cause: String
    var lineage: UUID
    var attempts: Int
    /// Set while re-deciding after a target refused writes of this link because its record moved on.
    var refusal: Refusal? = nil
}

/// Writes of one link that their target refused because the record had changed since (MasterDeal's 412).
struct Refusal {
    var linkID: Int64
    var side: Side
    var keys: [String]
}

/// The observation cannot be decided yet; its row is retried after `delay` seconds.
struct RetryLater: Error {
    var inboxID: Int64
    var delay: Double
}
