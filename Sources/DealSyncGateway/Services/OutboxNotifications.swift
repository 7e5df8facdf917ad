import DealSyncStore
import Logging
import PostgresNIO
import ServiceLifecycle

/// Listens for `NOTIFY dealsync_outbox` and wakes the relays. Only a hint: the relays poll anyway, so a
/// dropped connection costs latency, never a write.
final class OutboxNotifications: Service {
    let database: Database
    let wakeup: Wakeup
    let logger: Logger

    init(database: Database, wakeup: Wakeup, logger: Logger) {
        self.database = database
        self.wakeup = wakeup
        self.logger = logger
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown {
                    try await self.database.client.withConnection { connection in
                        try await connection.listen(on: "dealsync_outbox") { notifications in
                            for try await _ in notifications { self.wakeup.signal() }
                        }
                    }
                }
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                logger.debug("outbox listener reconnecting")
            }
            await pause(.seconds(1))
        }
    }
}
