import Foundation
import Logging
import PostgresNIO

/// Whether a connector is paused, why and since when.
public struct ConnectorState: Sendable, Equatable, Codable {
    public var connector: String
    public var paused: Bool
    public var reason: String?
    public var since: Date?
    public var updatedAt: Date

    static let columns = "connector, paused, reason, since, updated_at"

    static func read(_ rows: PostgresRowSequence) async throws -> [ConnectorState] {
        var result: [ConnectorState] = []
        for try await row in rows.decode((String, Bool, String?, Date?, Date).self) {
            result.append(ConnectorState(connector: row.0, paused: row.1, reason: row.2, since: row.3, updatedAt: row.4))
        }
        return result
    }
}

/// Connectors paused by a blocked account, an expired subscription or a lost OAuth grant.
public struct ConnectorStatusStore: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    public func pause(_ connector: String, reason: String) async throws {
        try await database.client.query(
            """
            INSERT INTO connector_status (connector, paused, reason, since) VALUES (\(connector), true, \(reason), now())
            ON CONFLICT (connector) DO UPDATE SET paused = true, reason = excluded.reason,
                since = CASE WHEN connector_status.paused THEN connector_status.since ELSE now() END, updated_at = now()
            """, logger: logger)
    }

    /// Resumes the connector (a probe write succeeded).
    public func resume(_ connector: String) async throws {
        try await database.client.query(Self.resumeStatement(connector), logger: logger)
    }

    static func resumeStatement(_ connector: String) -> PostgresQuery {
        "UPDATE connector_status SET paused = false, reason = NULL, since = NULL, updated_at = now() WHERE connector = \(connector)"
    }

    /// Resumes a paused connector by hand, recorded in the audit log; returns the state it was in, or nil when it
    /// was not paused (then nothing changes and nothing is recorded).
    public func resume(_ connector: String, actor: String, reason: String?) async throws -> ConnectorState? {
        try await database.client.checkedTransaction(logger: logger) { tx in
            let rows = try await tx.query(
                "SELECT \(unescaped: ConnectorState.columns) FROM connector_status WHERE connector = \(connector) AND paused FOR UPDATE",
                logger: logger)
            guard let found = try await ConnectorState.read(rows).first else { return nil }
            try await tx.query(Self.resumeStatement(connector), logger: logger)
            var details = ["paused_reason": found.reason ?? ""]
            if let since = found.since { details["paused_since"] = ISO8601DateFormatter().string(from: since) }
            try await AuditRecords.insert(
                actor: actor, action: "connector.resume", target: "connector:\(connector)", reason: reason,
                details: details, on: tx, logger: logger)
            return found
        }
    }

    /// Paused connectors and why.
    public func paused() async throws -> [String: String] {
        let rows = try await database.client.query(
            "SELECT connector, coalesce(reason, '') FROM connector_status WHERE paused", logger: logger)
        var result: [String: String] = [:]
        for try await (connector, reason) in rows.decode((String, String).self) { result[connector] = reason }
        return result
    }

    /// Every connector that has a status row, paused or not.
    public func states() async throws -> [String: ConnectorState] {
        let rows = try await database.client.query("SELECT \(unescaped: ConnectorState.columns) FROM connector_status", logger: logger)
        return Dictionary(uniqueKeysWithValues: try await ConnectorState.read(rows).map { ($0.connector, $0) })
    }
}
