import ArgumentParser
import DealSyncStore
import Foundation
import Logging
import PostgresNIO

/// Which database a command uses: `--database-url`, else `DATABASE_URL`, else the durable cluster of the data
/// directory (`--data-dir`, default `<config>/.dealsync`).
struct DatabaseOptions: ParsableArguments {
    @Option(help: "postgres://user:password@host:port/database (default: $DATABASE_URL, else the PostgreSQL cluster kept in --data-dir).")
    var databaseURL: String?

    @Option(
        help:
            "Where the embedded PostgreSQL cluster is kept when no database URL is given (default: <config>/.dealsync, created on first use)."
    )
    var dataDir: String?

    var resolvedURL: String? {
        databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    func dataDirectory(configDirectory: String) -> DataDirectory {
        DataDirectory(path: dataDir ?? DataDirectory.defaultPath(configDirectory: configDirectory))
    }

    /// Runs `body` with a migrated-or-not database: a configured one, or the data directory's cluster (the running
    /// `serve`'s, or one started for this command and stopped after).
    func withDatabase<T: Sendable>(logger: Logger, _ body: @Sendable (Database) async throws -> T) async throws -> T {
        if let text = resolvedURL {
            let url: DatabaseURL
            do { url = try DatabaseURL(parsing: text) } catch { throw CLIError(error.description) }
            do {
                return try await Database.withDatabase(url, logger: logger, body)
            } catch let error as DatabaseError {
                throw CLIError(error.description)
            }
        }
        do {
            return try await dataDirectory(configDirectory: ".").withCommandCluster { url, _ in
                try await Database.withDatabase(url, logger: logger, body)
            }
        } catch let error as DataDirectory.HolderError {
            throw CLIError(error.description)
        }
    }
}

extension DatabaseOptions {
    /// For `serve`: the client runs as the first service of the group the body starts, so it stops last. Without a
    /// URL, this process owns the data directory's cluster for its whole life; a second `serve` there is refused.
    func withServeDatabase(
        configDirectory: String, logger: Logger,
        _ body: @Sendable (Database) async throws -> Void
    ) async throws {
        if let text = resolvedURL {
            let url: DatabaseURL
            do { url = try DatabaseURL(parsing: text) } catch { throw CLIError(error.description) }
            do {
                try await Database.withDatabase(url, logger: logger, maximumConnections: 30, body)
            } catch let error as DatabaseError {
                throw CLIError(error.description)
            }
            return
        }
        let directory = dataDirectory(configDirectory: configDirectory)
        do {
            try await directory.withServeCluster { cluster in
                logger.notice(
                    "no database URL given: using the PostgreSQL cluster of the data directory",
                    metadata: ["data_dir": "\(directory.path)", "port": "\(cluster.url.port)"])
                try await Database.withDatabase(cluster.url, logger: logger, maximumConnections: 30, body)
            }
        } catch let error as DataDirectory.HolderError {
            throw CLIError(error.description)
        }
    }
}

extension Logger {
    /// A logger for one-shot commands: warnings and errors on standard error.
    static func cli(_ label: String = "dealsync") -> Logger {
        var logger = Logger(label: label, factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = .warning
        return logger
    }
}

/// For commands that read an existing dealsync database: `--database-url`, else `DATABASE_URL`, else the cluster of
/// the data directory (the running `serve`'s, or started for the command, migrated, and stopped after).
struct RequiredDatabaseOptions: ParsableArguments {
    @Option(help: "postgres://user:password@host:port/database (default: $DATABASE_URL, else the PostgreSQL cluster kept in --data-dir).")
    var databaseURL: String?

    @Option(
        help: "The data directory of the embedded PostgreSQL cluster, used when no database URL is given (default: <config>/.dealsync).")
    var dataDir: String?

    func withDatabase<T: Sendable>(configDirectory: String = ".", _ body: @Sendable (Database) async throws -> T) async throws -> T {
        let logger = {
            var logger = Logger.cli()
            logger.logLevel = .error
            return logger
        }()
        do {
            guard let text = databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"], !text.isEmpty else {
                let directory = DataDirectory(path: dataDir ?? DataDirectory.defaultPath(configDirectory: configDirectory))
                return try await directory.withCommandCluster { url, started in
                    try await Database.withDatabase(url, logger: logger, maximumConnections: 4) { db in
                        // A cluster nobody has served from yet has no schema; the commands find it empty, not broken.
                        if started { _ = try await Migrator(logger: logger).migrate(db) }
                        return try await body(db)
                    }
                }
            }
            let url: DatabaseURL
            do { url = try DatabaseURL(parsing: text) } catch { throw CLIError(error.description) }
            return try await Database.withDatabase(url, logger: logger, maximumConnections: 4, body)
        } catch let error as DataDirectory.HolderError {
            throw CLIError(error.description)
        } catch let error as DatabaseError {
            throw CLIError(error.description)
        } catch let error as PSQLError {
            throw CLIError("the database refused the request: \(error.serverInfo?[.message] ?? "\(error.code)")")
        }
    }
}
