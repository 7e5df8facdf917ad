import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// Poll watermarks, stored with the polled records in one transaction so a crash never skips or loses a page.
public struct PollStore: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    public func cursor(connector: String) async throws -> String? {
        let rows = try await database.client.query("SELECT cursor::text FROM poll_cursors WHERE connector = \(connector)", logger: logger)
        for try await text in rows.decode(String.self) { return text }
        return nil
    }

    /// Stores where a connector that was never polled starts, unless a cursor is already stored (another
    /// process got there first); returns the cursor now stored.
    public func begin(at cursor: String, connector: String) async throws -> String {
        try await database.client.query(
            "INSERT INTO poll_cursors (connector, cursor) VALUES (\(connector), \(cursor)::jsonb) ON CONFLICT (connector) DO NOTHING",
            logger: logger)
        return try await self.cursor(connector: connector) ?? cursor
    }

    /// When each connector's last poll page was stored (every successful poll stores its cursor).
    public func lastPolled() async throws -> [String: Date] {
        let rows = try await database.client.query("SELECT connector, updated_at FROM poll_cursors", logger: logger)
        var result: [String: Date] = [:]
        for try await (connector, at) in rows.decode((String, Date).self) { result[connector] = at }
        return result
    }

    /// Stores a page of polled records and the cursor after it; returns how many records were new.
    public func store(_ items: [InboxItem], cursor: String, connector: String) async throws -> Int {
        try await database.transaction(logger: logger) { tx, notices in
            let stored = try await InboxRecords.insert(items, notices: notices, on: tx, logger: logger).count { $0 != nil }
            try await tx.query(
                """
                INSERT INTO poll_cursors (connector, cursor) VALUES (\(connector), \(cursor)::jsonb)
                ON CONFLICT (connector) DO UPDATE SET cursor = excluded.cursor, updated_at = now()
                """, logger: logger)
            return stored
        }
    }
}
