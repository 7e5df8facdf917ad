import DealSyncStore
import Logging
import PostgresNIO
import ServiceLifecycle

/// Listens for `NOTIFY dealsync_outbox` and wakes a relay of the target it names (every relay when it names
/// none); this process's own commits wake them at once (`Database.listen(to:wake:)`). Only a hint: the relays poll
/// anyway, so a dropped connection costs latency, never a write.
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
        let wakeups = self.wakeups
        await database.listen(to: .outbox) { target in
            if target.isEmpty {
                wakeups.signalAll()
            } else {
                // One relay of the target looks; it wakes another when it finds a full round.
                wakeups.lane(target).signalOne()
            }
        }
    }
}
