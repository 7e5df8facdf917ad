/// Capped exponential backoff with full jitter, honouring `Retry-After`.
public struct RetryPolicy: Sendable, Equatable {
    public var base: Duration
    public var cap: Duration
    public var maxAttempts: Int
    public var maxAge: Duration

    public init(base: Duration, cap: Duration, maxAttempts: Int, maxAge: Duration) {
        self.base = base
        self.cap = cap
        self.maxAttempts = maxAttempts
        self.maxAge = maxAge
    }

    public init(_ delivery: ConnectorConfig.Delivery) {
        self.init(base: delivery.backoffBase, cap: delivery.backoffCap, maxAttempts: delivery.maxAttempts, maxAge: delivery.maxAge)
    }

    /// The wait before attempt `attempt + 1`, given `attempt` failures so far; `unit` is a random number in 0..<1.
    public func delay(afterAttempt attempt: Int, retryAfter: Duration? = nil, unit: Double) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let ceiling = min(cap, base * (1 << exponent))
        let jittered = ceiling * max(0, min(unit, 1))
        if let retryAfter { return max(retryAfter, jittered) }
        return jittered
    }

    /// Whether a row that failed `attempts` times and is `age` old should stop being retried.
    public func isExhausted(attempts: Int, age: Duration) -> Bool {
        attempts >= maxAttempts || age >= maxAge
    }

    /// What the relay does with one answer of a target.
    public enum Step: Sendable, Equatable {
        /// Record the write as delivered.
        case confirm
        /// Send it again after this wait.
        case retry(after: Duration)
        /// Give up: into the dead-letter queue, with the class it failed with.
        case deadLetter(ErrorClass)
        /// The target changed since it was read (MasterDeal's 412): re-read and decide again.
        case redecide
        /// The connector cannot work until a person acts: pause it, and probe again after this wait.
        case pause(probeAfter: Duration)
    }

    /// The relay's decision for `answer`, pure: `attempts` counts this one, `age` is the write's age now, `unit` a
    /// random number in 0..<1 for the jitter. A retryable failure is retried until ``isExhausted(attempts:age:)``,
    /// never sooner than the target's `Retry-After`; a permanent one is dead-lettered at once.
    public func step(for answer: DeliveryOutcome, attempts: Int, age: Duration, pausedProbe: Duration, unit: Double) -> Step {
        switch answer {
        case .delivered: .confirm
        case .retryable(let errorClass, _, _, let retryAfter):
            isExhausted(attempts: attempts, age: age)
                ? .deadLetter(errorClass) : .retry(after: delay(afterAttempt: attempts, retryAfter: retryAfter, unit: unit))
        case .permanent(let errorClass, _, _): .deadLetter(errorClass)
        case .stale: .redecide
        case .paused: .pause(probeAfter: pausedProbe)
        }
    }
}
