import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// One link and its field state read inside a transaction (dead-letter replay; the inbox and delivery outcomes
/// read whole batches through ``LinkBookRecords``).
enum LinkRecords {
    struct Row {
        var id: Int64
        var connector: String
        var masterDealID: String?
        var recordID: String?
        var active: Bool
        var masterVersion: Int64?
    }

    static func byID(_ id: Int64, on tx: PostgresConnection, logger: Logger) async throws -> Row? {
        try await select(
            "SELECT id, connector, master_deal_id, record_id, state = 'active', master_version FROM links WHERE id = \(id) FOR UPDATE",
            on: tx, logger: logger
        ).first
    }

    private static func select(_ query: PostgresQuery, on tx: PostgresConnection, logger: Logger) async throws -> [Row] {
        let rows = try await tx.query(query, logger: logger)
        var result: [Row] = []
        for try await (id, connector, master, record, active, version) in rows.decode((Int64, String, String?, String?, Bool, Int64?).self)
        {
            result.append(Row(id: id, connector: connector, masterDealID: master, recordID: record, active: active, masterVersion: version))
        }
        return result
    }

    static func fieldStates(link: Int64, on tx: PostgresConnection, logger: Logger) async throws -> [String: FieldState] {
        let rows = try await tx.query("SELECT field, state::text FROM field_state WHERE link_id = \(link)", logger: logger)
        var states: [String: FieldState] = [:]
        for try await (field, json) in rows.decode((String, String).self) {
            states[field] = try FieldState(jsonText: json)
        }
        return states
    }

    /// Writes the fields whose state changed.
    static func saveFieldStates(
        link: Int64, _ states: [String: FieldState], previous: [String: FieldState],
        on tx: PostgresConnection, logger: Logger
    ) async throws {
        for (field, state) in states.sorted(by: { $0.key < $1.key }) where previous[field] != state {
            let json = state.jsonText
            try await tx.query(
                """
                INSERT INTO field_state (link_id, field, state) VALUES (\(link), \(field), \(json)::jsonb)
                ON CONFLICT (link_id, field) DO UPDATE SET state = excluded.state, updated_at = now()
                """, logger: logger)
        }
    }

    static func snapshot(_ row: Row, on tx: PostgresConnection, logger: Logger) async throws -> LinkSnapshot {
        LinkSnapshot(
            linkID: row.id, masterDealID: row.masterDealID, recordID: row.recordID, isActive: row.active,
            fields: try await fieldStates(link: row.id, on: tx, logger: logger))
    }
}

/// A store invariant broken; the message carries no data.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
