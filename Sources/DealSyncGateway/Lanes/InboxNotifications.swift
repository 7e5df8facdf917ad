import DealSyncStore
import Logging
import PostgresNIO
import ServiceLifecycle

/// Listens for `NOTIFY dealsync_inbox` (sent after each commit that stored inbox rows, the payload naming the
/// connector; see `Notices`) and wakes that connector's lane in this process. Only a hint: the lanes look on their
/// own now and then, so a dropped connection costs latency, never a row.
final class InboxNotifications: Service {
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
                        try await connection.listen(on: "dealsync_inbox") { notifications in
                            for try await notification in notifications { self.wakeups.signal(notification.payload) }
                        }
                    }
                }
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                logger.debug("inbox listener reconnecting")
            }
            await pause(.seconds(1))
        }
    }
}
