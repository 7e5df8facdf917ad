import DealSyncCore
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
///
/// The decisions are ``TokenBucket``'s (pure, the time passed in); this class holds one behind a lock and sleeps
/// as it says.
public final class RateLimiter: Sendable {
    public typealias SlidingWindow = TokenBucket.SlidingWindow

    private struct State {
        var bucket: TokenBucket
        var waited: Duration = .zero
        var acquired = 0
    }

    public let rate: Double
    public let burst: Double
    public let window: SlidingWindow?
    /// The time the bucket is read at, and how a caller waits (a test's manual clock, else `ContinuousClock`).
    let now: @Sendable () -> ContinuousClock.Instant
    let sleep: @Sendable (Duration) async throws -> Void
    private let state: Mutex<State>

    public init(
        requestsPerSecond: Double, burst: Int, window: SlidingWindow? = nil,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now },
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    ) {
        self.rate = requestsPerSecond
        self.burst = Double(max(burst, 1))
        self.window = window
        self.now = now
        self.sleep = sleep
        self.state = Mutex(State(bucket: TokenBucket(rate: requestsPerSecond, burst: burst, window: window, at: now())))
    }

    /// The part of the configured rate and burst this process may use: 1 alone, 1/N when N processes call the
    /// same API with a limit they share (MasterDeal's writes are delivered from every process).
    public var share: Double {
        get { state.withLock { $0.bucket.share } }
        set {
            let now = now()
            state.withLock { $0.bucket.setShare(newValue, at: now) }
        }
    }

    public convenience init(_ limit: ConnectorConfig.RateLimit) {
        self.init(requestsPerSecond: limit.requestsPerSecond, burst: limit.burst)
    }

    /// Waits until `cost` requests may be made, then takes them. Returns how long it waited.
    @discardableResult
    public func acquire(cost: Double = 1) async throws -> Duration {
        let started = now()
        let wait = state.withLock { s -> Duration in
            s.acquired += 1
            return s.bucket.reserve(cost, at: started)
        }
        if wait > .zero {
            do {
                try await sleep(wait)
            } catch {
                state.withLock { $0.bucket.giveBack(cost) }
                throw error
            }
        }
        if window != nil {
            while let pause = state.withLock({ [now] in $0.bucket.depart(at: now()) }) {
                try await sleep(pause)
            }
        }
        let waited = started.duration(to: now())
        if waited > .milliseconds(1) { state.withLock { $0.waited += waited } }
        return waited
    }

    /// Tokens in the bucket now; negative while callers are waiting on it.
    public var available: Double {
        let now = now()
        return state.withLock { $0.bucket.available(at: now) }
    }

    /// Total time callers spent waiting, and acquisitions, since start (metrics).
    public var statistics: (waited: Duration, acquired: Int) {
        state.withLock { ($0.waited, $0.acquired) }
    }
}
