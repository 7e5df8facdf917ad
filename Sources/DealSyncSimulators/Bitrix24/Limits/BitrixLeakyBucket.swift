/// The portal's request limit: every HTTP request adds one to a counter that drains at a fixed rate; a request that
/// would take the counter above the capacity is refused (503 `QUERY_LIMIT_EXCEEDED`) and not counted.
///
/// A `batch` is one request however many commands it carries.
struct BitrixLeakyBucket: Sendable {
    typealias Instant = ContinuousClock.Instant

    let capacity: Int
    let drainPerSecond: Double
    private(set) var level: Double = 0
    /// The highest level reached.
    private(set) var peak: Double = 0
    private var updatedAt: Instant?

    init(capacity: Int, drainPerSecond: Double) {
        self.capacity = capacity
        self.drainPerSecond = drainPerSecond
    }

    /// Whether a request arriving `now` may run; an admitted request raises the level by one.
    mutating func admit(at now: Instant) -> Bool {
        drain(to: now)
        guard level + 1 <= Double(capacity) + 1e-9 else { return false }
        level += 1
        peak = max(peak, level)
        return true
    }

    /// The level after draining up to `now`.
    mutating func current(at now: Instant) -> Double {
        drain(to: now)
        return level
    }

    private mutating func drain(to now: Instant) {
        if let updatedAt {
            let elapsed = now - updatedAt
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            level = max(0, level - seconds * drainPerSecond)
        }
        updatedAt = now
    }
}
