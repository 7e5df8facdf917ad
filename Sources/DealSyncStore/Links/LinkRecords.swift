import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// Reads and writes links and their field state inside a transaction.
///
/// Every function takes the transaction's connection: the processor locks a link, decides and writes in one
/// transaction.
enum LinkRecords {
    struct Row {
        var id: Int64
        var connector: String
        var masterDealID: String?
        var recordID: String?
        var active: Bool
        var masterVersion: Int64?
    }

    /// Serialises everything about one key (a deal or a CRM record) until the transaction ends.
    static func lock(_ key: String, on tx: PostgresConnection, logger: Logger) async throws {
        try await tx.query("SELECT pg_advisory_xact_lock(hashtextextended(\(key), 7))", logger: logger)
    }

    static func byMaster(_ masterID: String, on tx: PostgresConnection, logger: Logger) async throws -> [Row] {
        try await select(
            "SELECT id, connector, master_deal_id, record_id, state = 'active', master_version FROM links WHERE master_deal_id = \(masterID) ORDER BY id FOR UPDATE",
            on: tx, logger: logger)
    }

    static func byMaster(_ masterID: String, connector: String, on tx: PostgresConnection, logger: Logger) async throws -> Row? {
        try await select(
            "SELECT id, connector, master_deal_id, record_id, state = 'active', master_version FROM links WHERE connector = \(connector) AND master_deal_id = \(masterID) FOR UPDATE",
            on: tx, logger: logger
        ).first
    }

    static func byRecord(_ recordID: String, connector: String, on tx: PostgresConnection, logger: Logger) async throws -> Row? {
        try await select(
            "SELECT id, connector, master_deal_id, record_id, state = 'active', master_version FROM links WHERE connector = \(connector) AND record_id = \(recordID) FOR UPDATE",
            on: tx, logger: logger
        ).first
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
        for try await (id, connector, master, record, active, version) in rows.decode((Int64, String, String?, String?, Bool, Int64?).self) {
            result.append(Row(id: id, connector: connector, masterDealID: master, recordID: record, active: active, masterVersion: version))
        }
        return result
    }

    static func insert(connector: String, masterID: String?, recordID: String?, lineage: UUID, on tx: PostgresConnection,
                       logger: Logger) async throws -> Row {
        let rows = try await tx.query(
            """
            INSERT INTO links (connector, master_deal_id, record_id, last_lineage_id)
            VALUES (\(connector), \(masterID), \(recordID), \(lineage)) RETURNING id
            """, logger: logger)
        for try await id in rows.decode(Int64.self) {
            return Row(id: id, connector: connector, masterDealID: masterID, recordID: recordID, active: true, masterVersion: nil)
        }
        throw StoreError("link insert returned no id")
    }

    static func update(_ row: Row, lineage: UUID?, on tx: PostgresConnection, logger: Logger) async throws {
        try await tx.query(
            """
            UPDATE links SET master_deal_id = \(row.masterDealID), record_id = \(row.recordID),
                state = \(row.active ? "active" : "unlinked"), master_version = \(row.masterVersion),
                last_lineage_id = coalesce(\(lineage), last_lineage_id), updated_at = now()
            WHERE id = \(row.id)
            """, logger: logger)
    }

    static func fieldStates(link: Int64, on tx: PostgresConnection, logger: Logger) async throws -> [String: FieldState] {
        let rows = try await tx.query("SELECT field, state::text FROM field_state WHERE link_id = \(link)", logger: logger)
        var states: [String: FieldState] = [:]
        for try await (field, json) in rows.decode((String, String).self) {
            states[field] = try StoreJSON.decode(FieldState.self, from: json)
        }
        return states
    }

    /// Writes the fields whose state changed.
    static func saveFieldStates(link: Int64, _ states: [String: FieldState], previous: [String: FieldState],
                                on tx: PostgresConnection, logger: Logger) async throws {
        for (field, state) in states.sorted(by: { $0.key < $1.key }) where previous[field] != state {
            let json = try StoreJSON.encode(state)
            try await tx.query(
                """
                INSERT INTO field_state (link_id, field, state) VALUES (\(link), \(field), \(json)::jsonb)
                ON CONFLICT (link_id, field) DO UPDATE SET state = excluded.state, updated_at = now()
                """, logger: logger)
        }
    }

    static func snapshot(_ row: Row, on tx: PostgresConnection, logger: Logger) async throws -> LinkSnapshot {
        LinkSnapshot(linkID: row.id, masterDealID: row.masterDealID, recordID: row.recordID, isActive: row.active,
                     fields: try await fieldStates(link: row.id, on: tx, logger: logger))
    }
}

/// A store invariant broken; the message carries no data.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
