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

    /// Records what the target did in one round of deliveries. A success closes the circuit. Otherwise a round
    /// with a target-level failure counts as one failure, however many records it carried: a batch call answered
    /// with one 429 is one failure of the target, not one per record (which opened the circuit, and kept doubling
    /// its cooldown, on a single rate-limited batch).
    public mutating func record(round outcomes: [DeliveryOutcome], at now: ContinuousClock.Instant) {
        if outcomes.contains(where: { if case .delivered = $0 { true } else { false } }) {
            recordSuccess()
        } else if outcomes.contains(where: { if case .retryable(let errorClass, _, _, _) = $0 { errorClass.isTargetLevel } else { false } })
        {
            recordFailure(at: now)
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
