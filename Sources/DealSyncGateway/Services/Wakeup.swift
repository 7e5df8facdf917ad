import Synchronization

/// A hint that work may be waiting: wakes a sleeping loop early. Loops still poll on their own, so a lost
/// hint (or one sent from another process) only costs latency, never work.
public final class Wakeup: Sendable {
    private let state = Mutex<(pending: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    public init() {}

    /// Wakes every waiter, or the next one to wait.
    public func signal() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            if s.waiters.isEmpty { s.pending = true }
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns on a signal or after `timeout`, whichever comes first.
    public func wait(timeout: Duration) async {
        if state.withLock({ s in
            defer { s.pending = false }
            return s.pending
        }) { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await pause(timeout)
            }
            group.addTask {
                await withCheckedContinuation { continuation in
                    let resumeNow = self.state.withLock { s -> Bool in
                        if s.pending {
                            s.pending = false
                            return true
                        }
                        s.waiters.append(continuation)
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
            await group.next()
            group.cancelAll()
            // Release a waiter left behind by the timeout.
            self.signalStale()
            await group.waitForAll()
        }
    }

    private func signalStale() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
