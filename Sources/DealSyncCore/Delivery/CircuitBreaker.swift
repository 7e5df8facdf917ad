/// Stops hammering a target that is down: after `threshold` consecutive target-level failures the circuit opens;
/// after the cooldown one probe goes through; its success closes the circuit, its failure reopens it for longer.
///
/// A pure state machine: the relay feeds it results and the clock, and asks before each send.
public struct CircuitBreaker: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case closed(failures: Int)
        case open(until: ContinuousClock.Instant, cooldown: Duration)
        case halfOpen(cooldown: Duration)
    }

    public private(set) var state: State = .closed(failures: 0)
    public let threshold: Int
    public let cooldown: Duration
    public let maxCooldown: Duration

    public init(threshold: Int, cooldown: Duration, maxCooldown: Duration = .seconds(300)) {
        self.threshold = threshold
        self.cooldown = cooldown
        self.maxCooldown = max(cooldown, maxCooldown)
    }

    public enum Permission: Sendable, Equatable {
        case allowed
        /// Only one request, a probe.
        case probe
        case wait(until: ContinuousClock.Instant)
    }

    /// Whether a request may go now. Moving from open to half-open happens here.
    public mutating func permission(at now: ContinuousClock.Instant) -> Permission {
        switch state {
        case .closed:
            return .allowed
        case .open(let until, let cooldown):
            guard now >= until else { return .wait(until: until) }
            state = .halfOpen(cooldown: cooldown)
            return .probe
        case .halfOpen:
            return .probe
        }
    }

    public mutating func recordSuccess() {
        state = .closed(failures: 0)
    }

    /// Records a target-level failure (record-level failures do not count).
    public mutating func recordFailure(at now: ContinuousClock.Instant) {
        switch state {
        case .closed(let failures):
            if failures + 1 >= threshold {
                state = .open(until: now + cooldown, cooldown: cooldown)
            } else {
                state = .closed(failures: failures + 1)
            }
        case .halfOpen(let previous), .open(_, let previous):
            let next = min(previous * 2, maxCooldown)
            state = .open(until: now + next, cooldown: next)
        }
    }

    /// 0 closed, 1 half-open, 2 open — for the `dealsync_breaker_state` gauge.
    public var gaugeValue: Int {
        switch state {
        case .closed: 0
        case .halfOpen: 1
        case .open: 2
        }
    }
}
