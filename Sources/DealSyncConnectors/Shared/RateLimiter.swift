import Synchronization

/// A client-side token bucket shared by everything that calls one connector's API in this process: polling,
/// fetching and writing. amoCRM allows 7 requests/s; Bitrix24's leaky bucket drains 2/s up to 50.
///
/// Waiters sleep until their tokens are due; a cancelled waiter gives its reservation back.
public final class RateLimiter: Sendable {
    private struct State {
        var tokens: Double
        var updated: ContinuousClock.Instant
        var waited: Duration = .zero
        var acquired = 0
    }

    public let rate: Double
    public let burst: Double
    private let state: Mutex<State>

    public init(requestsPerSecond: Double, burst: Int) {
        self.rate = requestsPerSecond
        self.burst = Double(max(burst, 1))
        self.state = Mutex(State(tokens: Double(max(burst, 1)), updated: .now))
    }

    public convenience init(_ limit: ConnectorConfig.RateLimit) {
        self.init(requestsPerSecond: limit.requestsPerSecond, burst: limit.burst)
    }

    /// Waits until `cost` requests may be made, then takes them. Returns how long it waited.
    @discardableResult
    public func acquire(cost: Double = 1) async throws -> Duration {
        let wait = reserve(cost)
        guard wait > .zero else { return .zero }
        do {
            try await Task.sleep(for: wait)
        } catch {
            state.withLock { $0.tokens += cost }
            throw error
        }
        state.withLock { $0.waited += wait }
        return wait
    }

    /// Takes `cost` tokens now (going into debt when short) and says how long the debt takes to repay.
    private func reserve(_ cost: Double) -> Duration {
        state.withLock { s in
            let now = ContinuousClock.now
            let elapsed = s.updated.duration(to: now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            s.tokens = min(burst, s.tokens + seconds * rate)
            s.updated = now
            s.tokens -= cost
            s.acquired += 1
            guard s.tokens < 0 else { return .zero }
            return .nanoseconds(Int64((-s.tokens / rate) * 1e9))
        }
    }

    /// Total time callers spent waiting, and acquisitions, since start (metrics).
    public var statistics: (waited: Duration, acquired: Int) {
        state.withLock { ($0.waited, $0.acquired) }
    }
}

import DealSyncCore
