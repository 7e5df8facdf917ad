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
}
