import DealSyncStore
import Synchronization

/// One ``Wakeup`` per connector lane: a stored webhook, a polled page or a fetched record wakes only the lane
/// that will process it, and a write only the relays of its target.
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

    /// Wakes every lane (a hint that names none).
    public func signalAll() {
        for wakeup in wakeups.withLock({ Array($0.values) }) { wakeup.signal() }
    }
}
