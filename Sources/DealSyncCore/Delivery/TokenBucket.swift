/// The rate limiter's decisions, with the time passed in: a token bucket that says how long a request must wait,
/// and an optional sliding window over actual departures. `RateLimiter` holds one behind a lock and sleeps as
/// it says; tests drive it with exact instants.
public struct TokenBucket: Sendable {
    /// At most `count` departures in any `length` (amoCRM counts requests in a sliding window).
    public struct SlidingWindow: Sendable, Equatable {
        public var count: Int
        public var length: Duration

        public init(count: Int, length: Duration) {
            self.count = max(count, 1)
            self.length = length
        }
    }

    public let rate: Double
    public let burst: Double
    public let window: SlidingWindow?
    private(set) var tokens: Double
    private var updated: ContinuousClock.Instant
    private var departures: [ContinuousClock.Instant] = []
    /// The part of the configured rate and burst this process may use (1/N of a limit N processes share).
    public private(set) var share = 1.0

    public init(rate: Double, burst: Int, window: SlidingWindow? = nil, at now: ContinuousClock.Instant) {
        self.rate = rate
        self.burst = Double(max(burst, 1))
        self.window = window
        self.tokens = Double(max(burst, 1))
        self.updated = now
    }

    /// Takes `cost` tokens at `now` (going into debt when short) and says how long the debt takes to repay.
    public mutating func reserve(_ cost: Double, at now: ContinuousClock.Instant) -> Duration {
        refill(at: now)
        tokens -= cost
        guard tokens < 0 else { return .zero }
        return .nanoseconds(Int64((-tokens / (rate * share)) * 1e9))
    }

    /// Gives back a reservation whose caller gave up.
    public mutating func giveBack(_ cost: Double) {
        tokens += cost
    }

    /// Records a departure at `now` if the window has room; otherwise says how long until its oldest one ages out.
    public mutating func depart(at now: ContinuousClock.Instant) -> Duration? {
        guard let window else { return nil }
        departures.removeAll { $0.duration(to: now) >= window.length }
        guard departures.count >= window.count else {
            departures.append(now)
            return nil
        }
        return window.length - departures[0].duration(to: now)  // > 0: older ones were pruned above
    }

    /// Changes the share at `now`: tokens earned so far are earned at the old share, and the bucket shrinks at once.
    public mutating func setShare(_ newValue: Double, at now: ContinuousClock.Instant) {
        let share = min(max(newValue, 0.01), 1)
        refill(at: now)
        tokens = min(tokens, Self.capacity(burst, share))
        self.share = share
    }

    /// Tokens in the bucket at `now`; negative while callers wait on it.
    public func available(at now: ContinuousClock.Instant) -> Double {
        let elapsed = updated.duration(to: now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return min(Self.capacity(burst, share), tokens + max(seconds, 0) * rate * share)
    }

    private mutating func refill(at now: ContinuousClock.Instant) {
        tokens = available(at: now)
        if updated < now { updated = now }
    }

    /// The bucket's size at `share` (never below one request, or nothing could ever go).
    static func capacity(_ burst: Double, _ share: Double) -> Double { max(burst * share, 1) }
}
