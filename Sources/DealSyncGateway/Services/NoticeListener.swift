import DealSyncStore
import ServiceLifecycle

/// Hears one channel of notices (`Database.listen(to:wake:)`): this process's own at commit, other processes'
/// through `LISTEN`, and calls `wake` with the lane or target each names. Only a hint: lanes and relays look on their
/// own now and then, so a dropped connection costs latency, never a row or a write.
final class NoticeListener: Service {
    let database: Database
    let channel: Notices.Channel
    let wake: @Sendable (String) -> Void

    init(database: Database, channel: Notices.Channel, wake: @escaping @Sendable (String) -> Void) {
        self.database = database
        self.channel = channel
        self.wake = wake
    }

    func run() async throws {
        await database.listen(to: channel, wake: wake)
    }
}
