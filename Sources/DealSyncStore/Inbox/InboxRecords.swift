import DealSyncCore
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Inbox rows inside a transaction: many items in one statement.
enum InboxRecords {
    /// Each item's headers as the JSON object the `headers` column holds.
    static func headersJSON(_ items: [InboxItem]) -> [String] {
        items.map { JSONText.text(.object($0.headers.mapValues { .string($0) })) }
    }

    /// Inserts `items` with one statement and asks for the lanes of the rows stored to be woken once committed;
    /// returns each item's new row id, or `nil` for a duplicate (a row with its connector and dedupe key exists, or
    /// an earlier item of the same list has them).
    static func insert(
        _ items: [InboxItem], notices: Notices, on connection: PostgresConnection, logger: Logger
    ) async throws -> [Int64?] {
        guard !items.isEmpty else { return [] }
        let headers = headersJSON(items)
        let rows = try await connection.query(Insert.self, insertQuery(items, headers: headers), logger: logger)
        var stored: [Key: Int64] = [:]
        for try await (id, connector, key) in rows.decode((Int64, String, String).self) {
            stored[Key(connector: connector, dedupeKey: key)] = id
        }
        // Every process's lane of these connectors wakes once the rows are committed.
        notices.wake(.inbox, Set(stored.keys.map(\.connector)))
        var result: [Int64?] = []
        for item in items {
            // The first item with a key takes the row; a later one with the same key is its duplicate.
            result.append(stored.removeValue(forKey: Key(connector: item.connector, dedupeKey: item.dedupeKey)))
        }
        return result
    }

    static func insertQuery(_ items: [InboxItem], headers: [String]) -> PostgresQuery {
        """
        INSERT INTO inbox (connector, dedupe_key, source, headers, content_type, body, lineage_id)
            SELECT connector, key, source, headers::jsonb, NULLIF(content_type, ''), body, lineage
            FROM unnest(\(items.map(\.connector))::text[], \(items.map(\.dedupeKey))::text[], \(items.map(\.source.rawValue))::text[],
                        \(headers)::text[], \(items.map { $0.contentType ?? "" })::text[],
                        \(items.map { ByteBuffer(bytes: $0.body) })::bytea[], \(items.map(\.lineageID))::uuid[])
                WITH ORDINALITY AS t(connector, key, source, headers, content_type, body, lineage, ordinality)
            ORDER BY ordinality
        ON CONFLICT (connector, dedupe_key) DO NOTHING
        RETURNING id, connector, dedupe_key
        """
    }

    enum Insert: KeptStatement {
        static let name = "dealsync_store_inbox"
        static let sql = insertQuery([], headers: []).sql
    }

    private struct Key: Hashable {
        var connector: String
        var dedupeKey: String
    }
}
