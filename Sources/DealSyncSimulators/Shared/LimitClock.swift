import Synchronization

/// The monotonic time a simulator's request limits read (amoCRM's one-second window, Bitrix24's leaky bucket and
/// operating time). It is `ContinuousClock` unless a test freezes it, so that every request of a burst arrives at
/// the same instant however slowly it is sent, or moves it forward, so that a window passes without waiting for it.
final class LimitClock: Sendable {
    typealias Instant = ContinuousClock.Instant

    private struct State {
        var offset: Duration = .zero
        var frozenAt: Instant?
    }

    private let state = Mutex(State())

    var now: Instant { state.withLock { $0.frozenAt ?? ContinuousClock.now + $0.offset } }

    /// Stops the clock where it stands.
    func freeze() {
        state.withLock { state in
            if state.frozenAt == nil { state.frozenAt = ContinuousClock.now + state.offset }
        }
    }

    /// Lets the clock run again from where it stood.
    func unfreeze() {
        state.withLock { state in
            guard let frozen = state.frozenAt else { return }
            state.offset = frozen - ContinuousClock.now
            state.frozenAt = nil
        }
    }

    /// Moves the clock forward, frozen or not.
    func advance(by duration: Duration) {
        state.withLock { state in
            if let frozen = state.frozenAt {
                state.frozenAt = frozen + duration
            } else {
                state.offset += duration
            }
        }
    }
}
