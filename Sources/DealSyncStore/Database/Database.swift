import DealSyncCore
import Logging
import NIOSSL
import PostgresNIO
import ServiceLifecycle

/// The dealsync database: a PostgresNIO client pool plus the checks commands need before using it.
///
/// - Important: ``run()`` must be running (it is a `Service`) or every query waits forever.
public final class Database: Service, Sendable {
    public let url: DatabaseURL
    public let client: PostgresClient
    let logger: Logger

    public init(url: DatabaseURL, maximumConnections: Int = 20, logger: Logger) {
        self.url = url
        self.logger = logger
        self.client = PostgresClient(configuration: Self.configuration(url, maximumConnections: maximumConnections),
                                     backgroundLogger: logger)
    }

    public func run() async {
        await client.run()
    }

    static func configuration(_ url: DatabaseURL, maximumConnections: Int = 20) -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS =
            switch url.tls {
            case .disable: .disable
            case .prefer: .prefer(.makeClientConfiguration())
            case .require: .require(.makeClientConfiguration())
            }
        var configuration = PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password?.reveal(),
            database: url.database, tls: tls)
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }

    /// Opens one connection to prove the server is reachable, failing with a one-line message.
    public static func checkReachable(_ url: DatabaseURL, logger: Logger) async throws(DatabaseError) {
        do {
            let tls: PostgresConnection.Configuration.TLS =
                url.tls == .disable ? .disable : .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            var configuration = PostgresConnection.Configuration(
                host: url.host, port: url.port, username: url.user, password: url.password?.reveal(),
                database: url.database, tls: tls)
            configuration.options.connectTimeout = .seconds(5)
            let connection = try await PostgresConnection.connect(
                on: PostgresConnection.defaultEventLoopGroup.any(), configuration: configuration, id: 0, logger: logger
            ).get()
            try await connection.close()
        } catch {
            throw DatabaseError.unreachable(url, reason: DatabaseError.reason(error))
        }
    }

    /// Runs `body` with a started client, after checking the server is reachable.
    public static func withDatabase<T: Sendable>(
        _ url: DatabaseURL, logger: Logger, maximumConnections: Int = 10, _ body: @Sendable (Database) async throws -> T
    ) async throws -> T {
        try await checkReachable(url, logger: logger)
        let database = Database(url: url, maximumConnections: maximumConnections, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await database.run() }
            defer { group.cancelAll() }
            return try await body(database)
        }
    }
}

/// Database problems worth a clear one-line message.
public enum DatabaseError: Error, CustomStringConvertible, Sendable {
    case unreachable(DatabaseURL, reason: String)
    case migrationsMissing(applied: Int, known: Int)
    case newerSchema(applied: Int, known: Int)

    public var description: String {
        switch self {
        case .unreachable(let url, let reason):
            "cannot connect to PostgreSQL at \(url.host):\(url.port) (database \(url.database), user \(url.user)): \(reason)"
        case .migrationsMissing(let applied, let known):
            "the database schema is at version \(applied) but this dealsync needs \(known): run `dealsync migrate`"
        case .newerSchema(let applied, let known):
            "the database schema is at version \(applied), newer than this dealsync knows (\(known)): upgrade dealsync"
        }
    }

    /// A short reason that never includes credentials.
    static func reason(_ error: any Error) -> String {
        if let psql = error as? PSQLError {
            if let message = psql.serverInfo?[.message] { return message }
            if let underlying = psql.underlying { return reason(underlying) }
            return "\(psql.code)"
        }
        let text = String(describing: error)
        if text.contains("connectTimeout") || text.contains("timeout") { return "connection timed out" }
        if text.contains("connection refused") || text.contains("Connection refused") || text.contains("ECONNREFUSED") {
            return "connection refused"
        }
        if text.contains("NXDOMAIN") || text.contains("resolve") || text.contains("lookup") { return "host not found" }
        return text.count > 160 ? String(text.prefix(160)) : text
    }
}
