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
        try await database.client.withConnection { try await Self.load(connector: connector, on: $0, logger: logger) }
    }

    /// Stores `tokens` if `generation` is newer than what is stored; returns whether it was stored.
    public func save(connector: String, _ tokens: Stored) async throws -> Bool {
        try await database.client.withConnection { try await Self.save(connector: connector, tokens, on: $0, logger: logger) }
    }

    /// The connector's pair read and written on the connection that holds its refresh lock (``whileRefreshing``).
    public struct Locked: Sendable {
        let connection: PostgresConnection
        let logger: Logger

        public func load(connector: String) async throws -> Stored? {
            try await TokenStore.load(connector: connector, on: connection, logger: logger)
        }

        public func save(connector: String, _ tokens: Stored) async throws -> Bool {
            try await TokenStore.save(connector: connector, tokens, on: connection, logger: logger)
        }
    }

    /// Runs `body` holding the connector's refresh lock, an advisory lock every process sharing this database
    /// takes around a token refresh, so that no process spends a refresh token while another is between the
    /// token endpoint's answer and the commit of the new pair (it would be refused and take the grant for lost).
    ///
    /// `body` reads and saves on the connection that holds the lock, so waiting for it never needs a second
    /// connection of the pool. The lock is the session's: it is let go when `body` ends, and when the process
    /// dies its session ends and the lock with it.
    public func whileRefreshing<T: Sendable>(connector: String, _ body: (Locked) async throws -> T) async throws -> T {
        try await database.client.withConnection { connection in
            let key = Self.refreshLockKey(connector)
            try await connection.run("SELECT pg_advisory_lock(hashtextextended(\(key), 13))", logger: logger)
            let outcome: Result<T, any Error>
            do {
                outcome = .success(try await body(Locked(connection: connection, logger: logger)))
            } catch {
                outcome = .failure(error)
            }
            do {
                try await connection.run("SELECT pg_advisory_unlock(hashtextextended(\(key), 13))", logger: logger)
            } catch {
                // A connection that may still hold the lock never goes back to the pool: closed, it lets go of it.
                logger.warning(
                    "the OAuth refresh lock could not be let go; its connection is closed", metadata: ["connector": "\(connector)"])
                try? await connection.close()
            }
            return try outcome.get()
        }
    }

    /// The text whose 64-bit hash is a connector's refresh-lock key.
    static func refreshLockKey(_ connector: String) -> String { "oauth-refresh:" + connector }

    static func load(connector: String, on connection: PostgresConnection, logger: Logger) async throws -> Stored? {
        let rows = try await connection.query(
            "SELECT access_token, refresh_token, access_expires_at, generation FROM oauth_tokens WHERE connector = \(connector)",
            logger: logger)
        var stored: Stored?
        for try await (access, refresh, expires, generation) in rows.decode((String?, String?, Date?, Int64).self) {
            stored = Stored(accessToken: access, refreshToken: refresh, accessExpiresAt: expires, generation: generation)
        }
        return stored
    }

    static func save(connector: String, _ tokens: Stored, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.query(
            """
            INSERT INTO oauth_tokens (connector, access_token, refresh_token, access_expires_at, generation)
            VALUES (\(connector), \(tokens.accessToken), \(tokens.refreshToken), \(tokens.accessExpiresAt), \(tokens.generation))
            ON CONFLICT (connector) DO UPDATE SET access_token = excluded.access_token, refresh_token = excluded.refresh_token,
                access_expires_at = excluded.access_expires_at, generation = excluded.generation, updated_at = now()
            WHERE oauth_tokens.generation < excluded.generation
            RETURNING generation
            """, logger: logger)
        var saved = false
        for try await _ in rows.decode(Int64.self) { saved = true }
        return saved
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
