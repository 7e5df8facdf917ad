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
            // Suites run in parallel, each gateway with a pool of up to 20 plus its listeners and locks: 200
            // connections ran out ("too many clients already") when the whole gateway suite ran at once.
            if state == nil { state = Result { try EmbeddedPostgres.start(options: .init(maxConnections: 500)) } }
            return try state!.get()
        }
    }

    /// A new, empty database in the shared cluster (or in `cluster`); migrated unless `migrated` is false.
    public static func freshDatabaseURL(migrated: Bool = true, in cluster: EmbeddedPostgres? = nil) async throws -> DatabaseURL {
        let cluster = try cluster ?? shared()
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

    /// Runs `body` with a cluster of its own, for a test that stops and starts PostgreSQL under what it tests
    /// (the shared cluster serves every other test of the process). The cluster is removed afterwards.
    public static func withPrivateCluster<T: Sendable>(
        _ options: EmbeddedPostgres.Options = .init(), _ body: @Sendable (EmbeddedPostgres) async throws -> T
    ) async throws -> T {
        // initdb and pg_ctl are waited for on threads of their own: under a busy suite they take long, and the
        // cooperative threads must go on serving the other tests meanwhile.
        let cluster = try await offThePool { try EmbeddedPostgres.start(options: options) }
        do {
            let result = try await body(cluster)
            try? await offThePool { cluster.stop() }
            return result
        } catch {
            try? await offThePool { cluster.stop() }
            throw error
        }
    }
}

/// Runs blocking work (a child process waited for) on a thread of its own and returns its result: the cooperative
/// threads (two on this machine) go on serving the other tests meanwhile.
public func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        Thread.detachNewThread {
            do {
                continuation.resume(returning: try work())
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }
}

extension EmbeddedPostgres {
    /// ``halt(mode:)`` on a thread of its own: `pg_ctl` is waited for, and the cooperative threads serve the gateway
    /// under test meanwhile.
    public func halted(mode: HaltMode = .immediate) async throws {
        try await offThePool { try self.halt(mode: mode) }
    }

    /// ``restart()`` on a thread of its own; returns once the server accepts connections again.
    public func restarted() async throws {
        try await offThePool { try self.restart() }
    }

}
