import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// One support action taken from the CLI.
public struct AuditEntry: Sendable, Equatable, Codable {
    public var id: Int64
    public var at: Date
    public var actor: String
    public var action: String
    public var target: String?
    public var reason: String?
    public var details: [String: String]
}

/// The audit log: who did what to which dead letter or drift, when and why.
public struct AuditStore: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    public func record(actor: String, action: String, target: String?, reason: String?, details: [String: String] = [:]) async throws {
        try await database.client.withConnection { connection in
            try await AuditRecords.insert(
                actor: actor, action: action, target: target, reason: reason, details: details,
                on: connection, logger: logger)
        }
    }

    public func list(limit: Int = 200, action: String? = nil) async throws -> [AuditEntry] {
        let query: PostgresQuery =
            if let action {
                "SELECT id, at, actor, action, target, reason, details::text FROM audit_log WHERE action LIKE \(action + "%") ORDER BY id DESC LIMIT \(limit)"
            } else {
                "SELECT id, at, actor, action, target, reason, details::text FROM audit_log ORDER BY id DESC LIMIT \(limit)"
            }
        let rows = try await database.client.query(query, logger: logger)
        var entries: [AuditEntry] = []
        for try await (id, at, actor, action, target, reason, details) in rows.decode(
            (Int64, Date, String, String, String?, String?, String).self)
        {
            entries.append(
                AuditEntry(
                    id: id, at: at, actor: actor, action: action, target: target, reason: reason,
                    details: (try? StoreJSON.decode([String: String].self, from: details)) ?? [:]))
        }
        return entries
    }
}

enum AuditRecords {
    static func insert(
        actor: String, action: String, target: String?, reason: String?, details: [String: String],
        on connection: PostgresConnection, logger: Logger
    ) async throws {
        let json = try StoreJSON.encode(details)
        try await connection.query(
            "INSERT INTO audit_log (actor, action, target, reason, details) VALUES (\(actor), \(action), \(target), \(reason), \(json)::jsonb)",
            logger: logger)
    }
}
