import DealSyncStore
import Foundation
import Logging
import Synchronization

/// One private PostgreSQL cluster per test process, and a fresh database per test.
///
/// The cluster starts on first use (about a second) and is stopped by its watchdog when the test process
/// exits. A test that needs PostgreSQL fails loudly when it is not installed.
public enum TestPostgres {
    private static let cluster = Mutex<Result<EmbeddedPostgres, any Error>?>(nil)
    private static let counter = Atomic<Int>(0)

    public static let logger: Logger = {
        var logger = Logger(label: "test", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = ProcessInfo.processInfo.environment["DEALSYNC_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .error
        return logger
    }()

    /// The shared cluster, started on first use.
    public static func shared() throws -> EmbeddedPostgres {
        try cluster.withLock { state in
            if state == nil { state = Result { try EmbeddedPostgres.start() } }
            return try state!.get()
        }
    }

    /// A new, empty database in the shared cluster; migrated unless `migrated` is false.
    public static func freshDatabaseURL(migrated: Bool = true) async throws -> DatabaseURL {
        let cluster = try shared()
        let name = "test_\(ProcessInfo.processInfo.processIdentifier)_\(counter.add(1, ordering: .relaxed).newValue)"
        let url = try await cluster.createDatabase(name, logger: logger)
        if migrated {
            try await Database.withDatabase(url, logger: logger, maximumConnections: 2) { database in
                _ = try await Migrator(logger: logger).migrate(database)
            }
        }
        return url
    }

    /// Runs `body` with a started client on a fresh database.
    public static func withDatabase<T: Sendable>(
        migrated: Bool = true, maximumConnections: Int = 10, _ body: @Sendable (Database) async throws -> T
    ) async throws -> T {
        let url = try await freshDatabaseURL(migrated: migrated)
        return try await Database.withDatabase(url, logger: logger, maximumConnections: maximumConnections, body)
    }
}
