import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// OAuth tokens per connector. A save commits before it returns and never replaces a newer generation.
public struct TokenStore: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    public struct Stored: Sendable, Equatable {
        public var accessToken: String?
        public var refreshToken: String?
        public var accessExpiresAt: Date?
        public var generation: Int64

        public init(accessToken: String?, refreshToken: String?, accessExpiresAt: Date?, generation: Int64) {
            self.accessToken = accessToken
            self.refreshToken = refreshToken
            self.accessExpiresAt = accessExpiresAt
            self.generation = generation
        }
    }

    public func load(connector: String) async throws -> Stored? {
        let rows = try await database.client.query(
            "SELECT access_token, refresh_token, access_expires_at, generation FROM oauth_tokens WHERE connector = \(connector)",
            logger: logger)
        for try await (access, refresh, expires, generation) in rows.decode((String?, String?, Date?, Int64).self) {
            return Stored(accessToken: access, refreshToken: refresh, accessExpiresAt: expires, generation: generation)
        }
        return nil
    }

    /// Stores `tokens` if `generation` is newer than what is stored; returns whether it was stored.
    public func save(connector: String, _ tokens: Stored) async throws -> Bool {
        let rows = try await database.client.query(
            """
            INSERT INTO oauth_tokens (connector, access_token, refresh_token, access_expires_at, generation)
            VALUES (\(connector), \(tokens.accessToken), \(tokens.refreshToken), \(tokens.accessExpiresAt), \(tokens.generation))
            ON CONFLICT (connector) DO UPDATE SET access_token = excluded.access_token, refresh_token = excluded.refresh_token,
                access_expires_at = excluded.access_expires_at, generation = excluded.generation, updated_at = now()
            WHERE oauth_tokens.generation < excluded.generation
            RETURNING generation
            """, logger: logger)
        for try await _ in rows.decode(Int64.self) { return true }
        return false
    }
}

extension TokenStore {
    /// What is stored for a connector, without the tokens themselves.
    public struct Summary: Sendable, Equatable, Codable {
        public var connector: String
        public var generation: Int64
        public var hasRefreshToken: Bool
        public var accessExpiresAt: Date?
        public var updatedAt: Date

        enum CodingKeys: String, CodingKey {
            case connector, generation, hasRefreshToken = "has_refresh_token", accessExpiresAt = "access_expires_at", updatedAt =
                "updated_at"
        }

        /// The columns a summary is read from, in ``read(_:)``'s order.
        static let columns = "connector, generation, refresh_token IS NOT NULL, access_expires_at, updated_at"

        static func read(_ rows: PostgresRowSequence) async throws -> [Summary] {
            var result: [Summary] = []
            for try await row in rows.decode((String, Int64, Bool, Date?, Date).self) {
                result.append(
                    Summary(connector: row.0, generation: row.1, hasRefreshToken: row.2, accessExpiresAt: row.3, updatedAt: row.4))
            }
            return result
        }
    }

    /// The stored pairs of every connector, as summaries.
    public func summaries() async throws -> [String: Summary] {
        let rows = try await database.client.query("SELECT \(unescaped: Summary.columns) FROM oauth_tokens", logger: logger)
        return Dictionary(uniqueKeysWithValues: try await Summary.read(rows).map { ($0.connector, $0) })
    }

    /// Deletes the connector's stored pair, so the next process to start uses the refresh token from its
    /// configuration, and records who did it in the audit log. Returns what was forgotten, or nil when nothing
    /// was stored (then nothing is recorded).
    public func forget(connector: String, actor: String, reason: String) async throws -> Summary? {
        try await database.client.checkedTransaction(logger: logger) { tx in
            let rows = try await tx.query(
                "DELETE FROM oauth_tokens WHERE connector = \(connector) RETURNING \(unescaped: Summary.columns)", logger: logger)
            guard let forgotten = try await Summary.read(rows).first else { return nil }
            try await AuditRecords.insert(
                actor: actor, action: "connector.forget_tokens", target: "connector:\(connector)", reason: reason,
                details: ["generation": String(forgotten.generation)], on: tx, logger: logger)
            return forgotten
        }
    }
}
