import DealSyncCore
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The dealsync database: a PostgresNIO client pool plus the checks commands need before using it.
///
/// ``run()`` runs the pool and watches the database (``DatabaseAvailability``): ``isAvailable`` says at once
/// whether it answers, and after an outage the pool is replaced when its own reconnection is still backing off.
///
/// - Important: ``run()`` must be running (it is a `Service`) or every query waits forever.
public final class Database: Service, Sendable {
    public let url: DatabaseURL
    /// The connection pool. A new one replaces it after an outage: take it for each use rather than keeping it.
    public var client: PostgresClient { pools.withLock { $0.client } }
    let logger: Logger
    let maximumConnections: Int
    let availabilityOptions: DatabaseAvailability.Options

    struct Pools {
        var client: PostgresClient
        /// 1 for the first pool, one more for each replacement.
        var generation = 1
        var current: Task<Void, Never>?
        var started: [Task<Void, Never>] = []
        /// Closed because the database was unreachable when the process stopped: nothing replaces it any more.
        var released = false
    }

    let pools: Mutex<Pools>
    let availabilityState: Mutex<DatabaseAvailability>
    /// ``probeSoon()`` asks the supervision to probe now. (Not an `AsyncStream`: cancelling the task that waits on
    /// one ends the stream for good, and every later wait would return at once.)
    let probeRequests = Wakeup()
    /// Probes of the pool made so far (the supervision's pace, for tests).
    let probes = Atomic<Int>(0)
    /// Sends committed transactions' ``Notices``.
    let noticeSender: NoticeSender
    /// Which process sent a notice (``NoticePayload``): this one's, so that its listeners skip what they heard locally.
    public let noticeOrigin = NoticePayload.newOrigin()
    let localHearers = Mutex(LocalHearers())
    let listeners = Mutex(OtherListeners())

    public init(
        url: DatabaseURL, maximumConnections: Int = 20, availability: DatabaseAvailability.Options = .init(),
        logger: Logger
    ) {
        self.url = url
        self.logger = logger
        self.maximumConnections = maximumConnections
        self.availabilityOptions = availability
        self.pools = Mutex(
            Pools(
                client: PostgresClient(
                    configuration: Self.configuration(url, maximumConnections: maximumConnections),
                    backgroundLogger: logger)))
        self.availabilityState = Mutex(DatabaseAvailability(options: availability))
        self.noticeSender = NoticeSender(logger: logger)
    }

    /// Runs the pool and its supervision until cancelled, then closes every pool it started.
    public func run() async {
        pools.withLock { start(&$0) }
        await supervise()
        let started = pools.withLock { $0.started }
        for task in started { task.cancel() }
        for task in started { await task.value }
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
        configuration.options.additionalStartupParameters = sessionSettings
        return configuration
    }

    /// Settings every session of dealsync starts with.
    ///
    /// JIT compilation off: PostgreSQL compiles a statement whose estimated cost passes `jit_above_cost`, and the
    /// relay's claim (a lateral scan per lane with a correlated head check) is estimated ever dearer as writes wait,
    /// though it reads 20 rows from an index whatever the backlog. With 97,000 MasterDeal writes waiting it took
    /// 1.3 s, 1.2 s of it compiling, and 0.4 ms without; every claim paid it again, so delivery slowed as the backlog
    /// grew. Nothing dealsync runs is long enough to gain from JIT.
    static let sessionSettings = [("jit", "off")]

    /// Opens one connection to prove the server is reachable, failing with a one-line message.
    public static func checkReachable(_ url: DatabaseURL, logger: Logger) async throws(DatabaseError) {
        do {
            try await connectOnce(url, timeout: .seconds(5), logger: logger)
        } catch {
            throw DatabaseError.unreachable(url, reason: DatabaseError.reason(error))
        }
    }

    /// Opens a connection outside the pool and closes it again.
    static func connectOnce(_ url: DatabaseURL, timeout: Duration, logger: Logger) async throws {
        let tls: PostgresConnection.Configuration.TLS =
            url.tls == .disable ? .disable : .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        var configuration = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password?.reveal(),
            database: url.database, tls: tls)
        configuration.options.connectTimeout = .init(timeout)
        let connection = try await PostgresConnection.connect(
            on: PostgresConnection.defaultEventLoopGroup.any(), configuration: configuration, id: 0, logger: logger
        ).get()
        try await connection.close()
    }

    /// Runs `body` with a started client, after checking the server is reachable.
    public static func withDatabase<T: Sendable>(
        _ url: DatabaseURL, logger: Logger, maximumConnections: Int = 10, _ body: @Sendable (Database) async throws -> T
    ) async throws -> T {
        try await checkReachable(url, logger: logger)
        let database = Database(url: url, maximumConnections: maximumConnections, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            // Started immediately, so its pool runs before `body` leases a connection.
            group.addImmediateTask { await database.run() }
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

    /// A short reason that never includes credentials, told by the error's type (not by searching its text).
    static func reason(_ error: any Error) -> String {
        switch error {
        case let psql as PSQLError:
            if let message = psql.serverInfo?[.message] { return message }
            if let underlying = psql.underlying { return reason(underlying) }
            return "\(psql.code)"
        case let io as IOError:
            switch io.errnoCode {
            case ECONNREFUSED: return "connection refused"
            case ETIMEDOUT: return "connection timed out"
            case EHOSTUNREACH, ENETUNREACH: return "host unreachable"
            default: return String(io.description.prefix(160))
            }
        case ChannelError.connectTimeout:
            return "connection timed out"
        case is DeadlinePassed:
            return "connection timed out"
        case let connection as NIOConnectionError:
            // Every address tried failed: the first one's reason; none found: the name did not resolve.
            if let first = connection.connectionErrors.first { return reason(first.error) }
            if connection.dnsAError != nil || connection.dnsAAAAError != nil { return "host not found" }
            return "no address to connect to"
        default:
            return String(String(describing: error).prefix(160))
        }
    }
}
