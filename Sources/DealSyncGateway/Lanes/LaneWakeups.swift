import DealSyncStore
import Synchronization

/// One ``Wakeup`` per connector lane: a stored webhook, a polled page or a fetched record wakes only the lane
/// that will process it.
public final class LaneWakeups: Sendable {
    private let wakeups: Mutex<[String: Wakeup]> = Mutex([:])

    public init() {}

    /// The wakeup of `connector`'s lane.
    public func lane(_ connector: String) -> Wakeup {
        wakeups.withLock { all in
            if let existing = all[connector] { return existing }
            let created = Wakeup()
            all[connector] = created
            return created
        }
    }

    public func signal(_ connector: String) { lane(connector).signal() }
}
