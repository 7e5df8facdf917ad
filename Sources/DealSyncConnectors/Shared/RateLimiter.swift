import Synchronization

/// A client-side token bucket shared by everything that calls one connector's API in this process: polling,
/// fetching and writing. amoCRM allows 7 requests/s; Bitrix24's leaky bucket drains 2/s up to 50.
///
/// Waiters sleep until their tokens are due; a cancelled waiter gives its reservation back.
///
/// A token bucket decides when a request is *due*; a caller that oversleeps (a busy machine) still goes, and
/// two late callers can leave back to back. Where the server counts requests in a sliding window and punishes
/// the one too many (amoCRM), an optional `SlidingWindow` also caps actual departures: at most `count`
/// callers leave in any `length`, measured when they leave, not when they were due.
public final class RateLimiter: Sendable {
    public struct SlidingWindow: Sendable, Equatable {
        public var count: Int
        public var length: Duration

        public init(count: Int, length: Duration) {
            self.count = max(count, 1)
            self.length = length
        }
    }

    private struct State {
        var tokens: Double
        var updated: ContinuousClock.Instant
        var waited: Duration = .zero
        var acquired = 0
        var departures: [ContinuousClock.Instant] = []
        var share = 1.0
    }

    public let rate: Double
    public let burst: Double
    public let window: SlidingWindow?
    private let state: Mutex<State>

    public init(requestsPerSecond: Double, burst: Int, window: SlidingWindow? = nil) {
        self.rate = requestsPerSecond
        self.burst = Double(max(burst, 1))
        self.window = window
        self.state = Mutex(State(tokens: Double(max(burst, 1)), updated: .now))
    }

    /// The part of the configured rate and burst this process may use: 1 alone, 1/N when N processes call the
    /// same API with a limit they share (MasterDeal's writes are delivered from every process).
    public var share: Double {
        get { state.withLock { $0.share } }
        set {
            let share = min(max(newValue, 0.01), 1)
            state.withLock { s in
                // Tokens earned so far are earned at the old share.
                let now = ContinuousClock.now
                s.tokens = tokens(in: s, at: now)
                s.updated = now
                s.tokens = min(s.tokens, capacity(share))
                s.share = share
            }
        }
    }

    public convenience init(_ limit: ConnectorConfig.RateLimit) {
        self.init(requestsPerSecond: limit.requestsPerSecond, burst: limit.burst)
    }

    /// Waits until `cost` requests may be made, then takes them. Returns how long it waited.
    @discardableResult
    public func acquire(cost: Double = 1) async throws -> Duration {
        let started = ContinuousClock.now
        let wait = reserve(cost)
        if wait > .zero {
            do {
                try await Task.sleep(for: wait)
            } catch {
                state.withLock { $0.tokens += cost }
                throw error
            }
        }
        if let window {
            while let pause = depart(window) {
                try await Task.sleep(for: pause)
            }
        }
        let waited = started.duration(to: .now)
        if waited > .milliseconds(1) { state.withLock { $0.waited += waited } }
        return waited
    }

    /// Records a departure now if the window has room; otherwise says how long until its oldest one ages out.
    private func depart(_ window: SlidingWindow) -> Duration? {
        state.withLock { s in
            let now = ContinuousClock.now
            s.departures.removeAll { $0.duration(to: now) >= window.length }
            guard s.departures.count >= window.count else {
                s.departures.append(now)
                return nil
            }
            return window.length - s.departures[0].duration(to: now)  // > 0: older ones were pruned above
        }
    }

    /// Takes `cost` tokens now (going into debt when short) and says how long the debt takes to repay.
    private func reserve(_ cost: Double) -> Duration {
        state.withLock { s in
            let now = ContinuousClock.now
            s.tokens = tokens(in: s, at: now)
            s.updated = now
            s.tokens -= cost
            s.acquired += 1
            guard s.tokens < 0 else { return .zero }
            return .nanoseconds(Int64((-s.tokens / (rate * s.share)) * 1e9))
        }
    }

    /// The bucket's size at `share` (never below one request, or nothing could ever go).
    private func capacity(_ share: Double) -> Double { max(burst * share, 1) }

    /// The tokens in the bucket at `now`: those left at the last update plus those earned since at the share's rate.
    private func tokens(in s: State, at now: ContinuousClock.Instant) -> Double {
        let elapsed = s.updated.duration(to: now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return min(capacity(s.share), s.tokens + seconds * rate * s.share)
    }

    /// Tokens in the bucket now; negative while callers are waiting on it.
    public var available: Double {
        state.withLock { tokens(in: $0, at: .now) }
    }

    /// Total time callers spent waiting, and acquisitions, since start (metrics).
    public var statistics: (waited: Duration, acquired: Int) {
        state.withLock { ($0.waited, $0.acquired) }
    }
}

import DealSyncCore
