import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// The relay's view of the outbox: claim due writes, one in flight per record at a time.
public struct OutboxClaims: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    /// Claims up to `limit` records' due writes for `target`.
    ///
    /// Only the oldest open write of a record can be claimed, and not while an earlier claim of that record is
    /// in flight, so writes reach a target in order per record; a record whose head is failing waits alone.
    /// Consecutive pending updates after a claimed update head are claimed with it (coalesced). Rows claimed by
    /// a process that died become claimable again when their lease runs out.
    public func claim(target: String, limit: Int, worker: String, lease: Duration, coalesce: Int = 20) async throws -> [WriteGroup] {
        let leaseSeconds = Double(lease.components.seconds) + Double(lease.components.attoseconds) / 1e18
        return try await database.client.withTransaction(logger: logger) { tx in
            let heads = try await Self.read(
                """
                WITH heads AS (
                    SELECT DISTINCT ON (record_key) id, status, next_attempt_at, claimed_until
                    FROM outbox WHERE target = \(target) AND status IN ('pending', 'in_flight')
                    ORDER BY record_key, id
                ), due AS (
                    SELECT o.id FROM outbox o JOIN heads h ON h.id = o.id
                    WHERE (h.status = 'pending' AND h.next_attempt_at <= now())
                       OR (h.status = 'in_flight' AND h.claimed_until < now())
                    ORDER BY o.id LIMIT \(limit)
                    FOR UPDATE OF o SKIP LOCKED
                )
                UPDATE outbox o SET status = 'in_flight', claimed_by = \(worker),
                    claimed_until = now() + make_interval(secs => \(leaseSeconds)), updated_at = now()
                FROM due WHERE o.id = due.id
                  AND ((o.status = 'pending' AND o.next_attempt_at <= now()) OR (o.status = 'in_flight' AND o.claimed_until < now()))
                RETURNING \(unescaped: Self.columns("o"))
                """, on: tx)
            var groups: [WriteGroup] = []
            for head in heads.sorted(by: { $0.id < $1.id }) {
                var group = WriteGroup(writes: [head])
                if head.operation == .update, coalesce > 1 {
                    let followers = try await Self.read(
                        """
                        WITH next AS (
                            SELECT id FROM outbox
                            WHERE target = \(target) AND record_key = \(head.recordKey) AND id > \(head.id)
                              AND status = 'pending' AND operation = 'update'
                            ORDER BY id LIMIT \(coalesce - 1)
                            FOR UPDATE SKIP LOCKED
                        )
                        UPDATE outbox o SET status = 'in_flight', claimed_by = \(worker),
                            claimed_until = now() + make_interval(secs => \(leaseSeconds)), updated_at = now()
                        FROM next WHERE o.id = next.id
                        RETURNING \(unescaped: Self.columns("o"))
                        """, on: tx)
                    group.writes += followers.sorted { $0.id < $1.id }
                }
                groups.append(group)
            }
            return groups
        }
    }

    static func columns(_ alias: String) -> String {
        """
        \(alias).id, \(alias).target, \(alias).record_key, \(alias).link_id, \(alias).master_deal_id, \(alias).operation,
        \(alias).payload::text, \(alias).idempotency_key, \(alias).lineage_id, \(alias).attempts, \(alias).created_at,
        (SELECT CASE WHEN l.connector = \(alias).target THEN l.record_id ELSE l.master_deal_id END FROM links l WHERE l.id = \(alias).link_id),
        (SELECT l.master_version FROM links l WHERE l.id = \(alias).link_id)
        """
    }

    static func read(_ query: PostgresQuery, on connection: PostgresConnection, logger: Logger = Logger(label: "outbox")) async throws -> [ClaimedWrite] {
        let rows = try await connection.query(query, logger: logger)
        var result: [ClaimedWrite] = []
        for try await (id, target, recordKey, link, master, operation, payload, key, lineage, attempts, created, record, version)
            in rows.decode((Int64, String, String, Int64?, String?, String, String, String, UUID, Int, Date, String?, Int64?).self)
        {
            let values = try StoreJSON.decode(OutboxPayload.self, from: payload).values
            result.append(ClaimedWrite(
                id: id, target: target, recordKey: recordKey, linkID: link, masterDealID: master,
                operation: RecordDecision.Operation(rawValue: operation) ?? .update, values: values, idempotencyKey: key,
                lineageID: lineage, attempts: attempts, createdAt: created, recordID: record,
                knownVersion: version))
        }
        return result
    }

    /// Pending and in-flight writes and the age of the oldest, per target (metrics and the demo).
    public func depth() async throws -> [(target: String, open: Int, oldestSeconds: Double)] {
        let rows = try await database.client.query(
            """
            SELECT target, count(*)::int8, coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
            FROM outbox WHERE status IN ('pending', 'in_flight') GROUP BY target
            """, logger: logger)
        var result: [(String, Int, Double)] = []
        for try await row in rows.decode((String, Int, Double).self) { result.append(row) }
        return result
    }

    /// When the next write for `target` is due, if any is waiting (the relay sleeps until then).
    public func nextDue(target: String) async throws -> Date? {
        let rows = try await database.client.query(
            """
            SELECT min(CASE WHEN status = 'pending' THEN next_attempt_at ELSE claimed_until END)
            FROM outbox WHERE target = \(target) AND status IN ('pending', 'in_flight')
            """, logger: logger)
        for try await date in rows.decode(Date?.self) { return date }
        return nil
    }
}
