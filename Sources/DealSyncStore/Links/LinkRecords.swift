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
        try await FieldStateRecords.read(links: [link], on: tx, logger: logger)[link] ?? [:]
    }

    /// Writes the link's states if any changed.
    static func saveFieldStates(
        link: Int64, _ states: [String: FieldState], previous: [String: FieldState],
        on tx: PostgresConnection, logger: Logger
    ) async throws {
        guard states != previous else { return }
        try await FieldStateRecords.save([link: states], on: tx, logger: logger)
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
