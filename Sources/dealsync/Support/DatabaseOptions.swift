import ArgumentParser
import DealSyncStore
import Foundation
import Logging
import PostgresNIO

/// Which database a command uses: `--database-url`, else `DATABASE_URL`, else a private embedded cluster.
struct DatabaseOptions: ParsableArguments {
    @Option(help: "postgres://user:password@host:port/database (default: $DATABASE_URL, else a private PostgreSQL started for this command).")
    var databaseURL: String?

    var resolvedURL: String? {
        databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Runs `body` with a migrated-or-not database: a configured one, or an embedded cluster stopped afterwards.
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
        let cluster = try EmbeddedPostgres.start()
        defer { cluster.stop() }
        FileHandle.standardError.write(Data("dealsync: no database URL given; using a private PostgreSQL at \(cluster.url.host):\(cluster.url.port)\n".utf8))
        return try await Database.withDatabase(cluster.url, logger: logger, body)
    }
}

extension DatabaseOptions {
    /// For `serve`: the client runs as the first service of the group the body starts, so it stops last.
    func withServeDatabase(logger: Logger, _ body: @Sendable (Database) async throws -> Void) async throws {
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
        let cluster = try EmbeddedPostgres.start()
        defer { cluster.stop() }
        logger.warning("no database URL given: using a private PostgreSQL that is removed on exit",
                       metadata: ["host": "\(cluster.url.host)", "port": "\(cluster.url.port)"])
        try await Database.withDatabase(cluster.url, logger: logger, maximumConnections: 30, body)
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

/// For commands that read an existing dealsync database (a private, empty one would show nothing).
struct RequiredDatabaseOptions: ParsableArguments {
    @Option(help: "postgres://user:password@host:port/database (default: $DATABASE_URL).")
    var databaseURL: String?

    func withDatabase<T: Sendable>(_ body: @Sendable (Database) async throws -> T) async throws -> T {
        guard let text = databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"], !text.isEmpty else {
            throw CLIError("this command reads dealsync's database: pass --database-url or set DATABASE_URL")
        }
        let url: DatabaseURL
        do { url = try DatabaseURL(parsing: text) } catch { throw CLIError(error.description) }
        var logger = Logger.cli()
        logger.logLevel = .error
        do {
            return try await Database.withDatabase(url, logger: logger, maximumConnections: 4, body)
        } catch let error as DatabaseError {
            throw CLIError(error.description)
        } catch let error as PSQLError {
            throw CLIError("the database refused the request: \(error.serverInfo?[.message] ?? "\(error.code)")")
        }
    }
}
