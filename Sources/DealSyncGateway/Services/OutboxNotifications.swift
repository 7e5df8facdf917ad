import DealSyncStore
import Logging
import PostgresNIO
import ServiceLifecycle

/// Listens for `NOTIFY dealsync_outbox` and wakes a relay of the target it names (every relay when it names
/// none). Only a hint: the relays poll anyway, so a dropped connection costs latency, never a write.
final class OutboxNotifications: Service {
    let database: Database
    let wakeups: LaneWakeups
    let logger: Logger

    init(database: Database, wakeups: LaneWakeups, logger: Logger) {
        self.database = database
        self.wakeups = wakeups
        self.logger = logger
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown {
                    try await self.database.client.withConnection { connection in
                        try await connection.listen(on: "dealsync_outbox") { notifications in
                            for try await notification in notifications {
                                if notification.payload.isEmpty {
                                    self.wakeups.signalAll()
                                } else {
                                    // One relay of the target looks; it wakes another when it finds a full round.
                                    self.wakeups.lane(notification.payload).signalOne()
                                }
                            }
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
