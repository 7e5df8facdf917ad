import Synchronization

/// A hint that work may be waiting: wakes a sleeping loop early. Loops still poll on their own, so a lost
/// hint (or one sent from another process) only costs latency, never work.
///
/// A waiter always comes back: on a signal, on its timeout, or when its task is cancelled — which is how every
/// loop is told the gateway is shutting down — however those race each other.
public final class Wakeup: Sendable {
    private struct State {
        var pending = false
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// Wakes every waiter, or the next one to wait.
    public func signal() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            if s.waiters.isEmpty { s.pending = true }
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// How many are waiting now.
    public var waiting: Int { state.withLock { $0.waiters.count } }

    /// Wakes one waiter (the one waiting longest), or the next one to wait: for several loops sharing one kind of
    /// work, of which one is enough to look (a relay that finds a full round wakes the next itself).
    public func signalOne() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard let first = s.waiters.keys.min() else {
                s.pending = true
                return nil
            }
            return s.waiters.removeValue(forKey: first)
        }
        waiter?.resume()
    }

    /// Whether a signal came while nobody waited (one the next ``wait(timeout:)`` would return for at once), clearing
    /// it: a loop that is busy when work is announced asks this instead of waiting.
    public func takeSignal() -> Bool {
        state.withLock { s in
            defer { s.pending = false }
            return s.pending
        }
    }

    /// Returns on a signal, after `timeout`, or when the task is cancelled, whichever comes first.
    public func wait(timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await pause(timeout) }
            group.addTask { await self.waitForSignal() }
            await group.next()
            group.cancelAll()
        }
    }

    /// Waits for a signal until the task is cancelled. The continuation is registered and removed under the
    /// lock, and a task cancelled before it registers never registers, so no continuation is left behind.
    func waitForSignal() async {
        let id = state.withLock { s -> Int in
            s.nextID += 1
            return s.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.pending {
                        s.pending = false
                        return true
                    }
                    // The cancellation flag is set before the handler runs: if the handler has already looked
                    // for this waiter (and found nothing), the flag is seen here.
                    if Task.isCancelled { return true }
                    s.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { s in s.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}
