import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// Durable intake: payloads are committed here before a webhook is answered.
public struct InboxStore: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    public enum RecordResult: Sendable, Equatable {
        case stored(id: Int64)
        case duplicate
    }

    /// Stores one payload and returns once its transaction has committed; a second delivery with the same dedupe
    /// key is reported and stores nothing.
    public func record(_ item: InboxItem) async throws -> RecordResult {
        let ids = try await database.transaction(logger: logger) { tx, notices in
            try await InboxRecords.insert([item], notices: notices, on: tx, logger: logger)
        }
        return ids.first.flatMap { $0 }.map { .stored(id: $0) } ?? .duplicate
    }

    /// Stores many payloads in one transaction (a page of polled records); returns how many were new.
    public func record(_ items: [InboxItem]) async throws -> Int {
        guard !items.isEmpty else { return 0 }
        return try await database.transaction(logger: logger) { tx, notices in
            try await InboxRecords.insert(items, notices: notices, on: tx, logger: logger).count { $0 != nil }
        }
    }

    /// Stores what one read of a topic brought in one transaction: `items` to process (a duplicate stores
    /// nothing) and `refused` payloads that are not valid events, kept as failed with the reason so support sees
    /// them; returns how many of `items` were new.
    public func record(_ items: [InboxItem], refused: [(item: InboxItem, reason: String)]) async throws -> Int {
        guard !items.isEmpty || !refused.isEmpty else { return 0 }
        return try await database.transaction(logger: logger) { tx, notices in
            let stored =
                items.isEmpty ? 0 : try await InboxRecords.insert(items, notices: notices, on: tx, logger: logger).count { $0 != nil }
            if !refused.isEmpty {
                try await tx.query(
                    """
                    INSERT INTO inbox (connector, dedupe_key, source, headers, content_type, body, lineage_id, status, error, processed_at)
                    SELECT connector, key, source, headers::jsonb, NULLIF(content_type, ''), body, lineage, 'failed', reason, now()
                    FROM unnest(\(refused.map(\.item.connector)), \(refused.map(\.item.dedupeKey)), \(refused.map(\.item.source.rawValue)),
                                \(InboxRecords.headersJSON(refused.map(\.item))), \(refused.map { $0.item.contentType ?? "" }),
                                \(refused.map { ByteBuffer(bytes: $0.item.body) }), \(refused.map(\.item.lineageID)), \(refused.map(\.reason)))
                        AS t(connector, key, source, headers, content_type, body, lineage, reason)
                    ON CONFLICT (connector, dedupe_key) DO NOTHING
                    """, logger: logger)
            }
            return stored
        }
    }

    /// How long until the earliest pending row of `connector` is due (zero or less: due already); `nil` when none
    /// is pending.
    public func nextDue(connector: String) async throws -> Duration? {
        try await database.client.query(NextDue.self, Self.nextDueQuery(connector: connector), logger: logger) { rows in
            for try await seconds in rows.decode(Double?.self) {
                return seconds.map { .milliseconds(Int64(($0 * 1000).rounded(.up))) }
            }
            return nil
        }
    }

    static func nextDueQuery(connector: String) -> PostgresQuery {
        """
        SELECT extract(epoch FROM min(next_attempt_at) - now())::float8 FROM inbox
        WHERE connector = \(connector) AND status = 'pending'
        """
    }

    enum NextDue: KeptStatement {
        static let name = "dealsync_inbox_next_due"
        static let sql = nextDueQuery(connector: "").sql
    }

    /// Pending rows and the age of the oldest, per connector (for metrics and `/readyz`).
    public func backlog() async throws -> [(connector: String, pending: Int, oldestSeconds: Double)] {
        let rows = try await database.client.query(
            """
            SELECT connector, count(*)::int8, coalesce(extract(epoch FROM now() - min(received_at)), 0)::float8
            FROM inbox WHERE status = 'pending' GROUP BY connector
            """, logger: logger)
        var result: [(String, Int, Double)] = []
        for try await (connector, count, age) in rows.decode((String, Int, Double).self) { result.append((connector, count, age)) }
        return result
    }

    /// Every inbox row of a connector (tests and `explain`); newest first.
    public func rows(connector: String, limit: Int = 100) async throws -> [(id: Int64, status: String, source: String, dedupeKey: String)] {
        let rows = try await database.client.query(
            "SELECT id, status, source, dedupe_key FROM inbox WHERE connector = \(connector) ORDER BY id DESC LIMIT \(limit)",
            logger: logger)
        var result: [(Int64, String, String, String)] = []
        for try await row in rows.decode((Int64, String, String, String).self) { result.append(row) }
        return result
    }
}
