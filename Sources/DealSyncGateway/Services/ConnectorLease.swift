import DealSyncStore
import Logging
import PostgresNIO
import ServiceLifecycle

/// Runs a connector's lane (its poller, and for a CRM its write lane) only in the process holding the
/// connector's advisory lock. CRM rate limits are per account, so one lane per connector; a standby takes over
/// within seconds when the holder dies and its connection — and with it the lock — goes away.
final class ConnectorLease: Service {
    let name: String
    let database: Database
    let services: [any Service]
    let logger: Logger
    let retry: Duration
    /// How long the lock's connection may take to answer its check (and the unlock) before it counts as lost.
    let checkTimeout: Duration = .seconds(5)

    init(name: String, database: Database, services: [any Service], logger: Logger, retry: Duration = .seconds(2)) {
        self.name = name
        self.database = database
        self.services = services
        self.logger = logger
        self.retry = retry
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await database.client.withConnection { connection in
                    let key = "lane:\(self.name)"
                    let rows = try await connection.query("SELECT pg_try_advisory_lock(hashtextextended(\(key), 11))", logger: self.logger)
                    var held = false
                    for try await got in rows.decode(Bool.self) { held = got }
                    guard held else { return }
                    self.logger.info("connector lane started here", metadata: ["connector": "\(self.name)"])
                    defer { self.logger.info("connector lane stopped here", metadata: ["connector": "\(self.name)"]) }
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for service in self.services {
                            group.addTask { try await service.run() }
                        }
                        group.addTask {
                            // Keep the lock's connection alive; losing it ends the lane here.
                            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                                await pause(.seconds(5))
                                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                                // A query on a connection whose server crashed can wait forever: bounded, and a
                                // lock that does not answer is a lock lost.
                                try await withDeadline(self.checkTimeout) {
                                    try await connection.query("SELECT 1", logger: self.logger)
                                }
                            }
                        }
                        // A service that ends (one with nothing to do, such as a disabled reconciler) leaves the
                        // others running. A failure, or losing the lock's connection, ends the whole lane at once
                        // (the error leaves the group, which cancels the rest), and so does shutting down.
                        while try await group.next() != nil {
                            if Task.isShuttingDownGracefully || Task.isCancelled {
                                group.cancelAll()
                                break
                            }
                        }
                    }
                    _ = try? await withDeadline(self.checkTimeout) {
                        try await connection.query("SELECT pg_advisory_unlock(hashtextextended(\(key), 11))", logger: self.logger)
                    }
                }
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                logger.warning(
                    "connector lane interrupted", metadata: ["connector": "\(name)", "error": "\(String(describing: error).prefix(200))"])
            }
            await pause(retry)
        }
    }
}
