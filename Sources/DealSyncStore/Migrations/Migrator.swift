import DealSyncCore
import Logging
import PostgresNIO

/// Applies the embedded migrations, once, even when several processes start at the same time.
///
/// A session advisory lock serialises migrators; each migration runs in its own transaction together with
/// its `schema_migrations` row, so a crash leaves the schema at a known version.
public struct Migrator: Sendable {
    /// Arbitrary, fixed: the advisory lock key of dealsync's migrator ("dealsync" in ASCII).
    static let lockKey: Int64 = 0x6465_616C_7379_6E63

    public let migrations: [Migration]
    let logger: Logger

    public init(migrations: [Migration] = Migration.all, logger: Logger) {
        self.migrations = migrations
        self.logger = logger
    }

    /// What `migrate` did.
    public struct Report: Sendable, Equatable {
        public var applied: [Int]
        public var currentVersion: Int
    }

    public func migrate(_ database: Database) async throws -> Report {
        try await database.client.withConnection { connection in
            try await connection.run("SELECT pg_advisory_lock(\(Self.lockKey))", logger: logger)
            do {
                let report = try await migrateLocked(connection)
                try await connection.run("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                return report
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                throw error
            }
        }
    }

    private func migrateLocked(_ connection: PostgresConnection) async throws -> Report {
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """, logger: logger)
        let done = try await Self.appliedVersions(connection, logger: logger)
        if let newest = done.max(), newest > (migrations.last?.version ?? 0) {
            throw DatabaseError.newerSchema(applied: newest, known: migrations.last?.version ?? 0)
        }
        var applied: [Int] = []
        for migration in migrations where !done.contains(migration.version) {
            try await connection.checkedTransaction(logger: logger) { tx in
                for statement in migration.statements {
                    try await tx.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await tx.query(
                    "INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                    logger: logger)
            }
            logger.info("applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
            applied.append(migration.version)
        }
        return Report(applied: applied, currentVersion: (done + applied).max() ?? 0)
    }

    static func appliedVersions(_ connection: PostgresConnection, logger: Logger) async throws -> [Int] {
        let rows = try await connection.query("SELECT version FROM schema_migrations ORDER BY version", logger: logger)
        var versions: [Int] = []
        for try await (version) in rows.decode(Int.self) { versions.append(version) }
        return versions
    }

    /// The schema version the database is at, or 0 before the first migration (used by `/readyz`).
    public static func currentVersion(_ database: Database, logger: Logger) async throws -> Int {
        let exists = try await database.client.query("SELECT to_regclass('schema_migrations') IS NOT NULL", logger: logger)
        for try await present in exists.decode(Bool.self) where !present { return 0 }
        let rows = try await database.client.query("SELECT coalesce(max(version), 0) FROM schema_migrations", logger: logger)
        for try await version in rows.decode(Int.self) { return version }
        return 0
    }
}
