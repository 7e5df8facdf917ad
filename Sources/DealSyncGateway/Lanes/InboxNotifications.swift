import DealSyncStore
import Logging
import PostgresNIO
import ServiceLifecycle

/// Listens for `NOTIFY dealsync_inbox` (sent after each commit that stored inbox rows, the payload naming the
/// connector; see `Notices`) and wakes that connector's lane in this process; this process's own commits wake it at
/// once (`Database.listen(to:wake:)`). Only a hint: the lanes look on their own now and then, so a dropped
/// connection costs latency, never a row.
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
        let wakeups = self.wakeups
        await database.listen(to: .inbox) { wakeups.signal($0) }
    }
}
