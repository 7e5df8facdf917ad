/// Bitrix24's second limit: the execution time of each method, summed per application or webhook in ten
/// one-minute buckets. A bucket starts with the first call it counts and leaves the sum ten minutes later
/// (`operating_reset_at`). Before each call the sum is checked: above the budget the method answers 429
/// `OPERATION_TIME_LIMIT` until enough buckets have left; the call that crosses the budget still completes.
struct BitrixOperatingLimiter: Sendable {
    typealias Instant = ContinuousClock.Instant

    struct Key: Hashable, Sendable {
        var caller: String
        var method: String
    }

    private struct Bucket: Sendable {
        var start: Instant
        var seconds: Double
    }

    let budget: Double?
    let window: Duration
    private var buckets: [Key: [Bucket]] = [:]

    /// `window` is the (scaled) ten minutes; each bucket spans a tenth of it.
    init(budget: Double?, window: Duration) {
        self.budget = budget
        self.window = window
    }

    private var bucketSpan: Duration { window / 10 }

    /// Whether the method is blocked for this caller now.
    mutating func isBlocked(_ key: Key, at now: Instant) -> Bool {
        guard let budget else { return false }
        prune(key, at: now)
        return total(key) > budget
    }

    /// Adds a finished call's execution time.
    mutating func register(_ key: Key, seconds: Double, at now: Instant) {
        prune(key, at: now)
        var list = buckets[key, default: []]
        if let last = list.last, now - last.start < bucketSpan {
            list[list.count - 1].seconds += seconds
        } else {
            list.append(Bucket(start: now, seconds: seconds))
        }
        buckets[key] = list
    }

    /// The accumulated time (`operating`) and how long until the oldest bucket leaves (`operating_reset_at`).
    mutating func usage(_ key: Key, at now: Instant) -> (operating: Double, resetIn: Duration?) {
        prune(key, at: now)
        let oldest = buckets[key]?.first.map { $0.start + window - now }
        return (total(key), oldest)
    }

    private func total(_ key: Key) -> Double { buckets[key]?.reduce(0) { $0 + $1.seconds } ?? 0 }

    private mutating func prune(_ key: Key, at now: Instant) {
        guard var list = buckets[key] else { return }
        list.removeAll { now - $0.start >= window }
        buckets[key] = list.isEmpty ? nil : list
    }
}
