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

    /// Fills an account to just past the budget, as a run of heavy calls would: the method is refused until its
    /// oldest bucket leaves (`operating_reset_at`). Nothing happens without a budget.
    mutating func exhaust(_ key: Key, at now: Instant) {
        guard let budget else { return }
        prune(key, at: now)
        register(key, seconds: max(0, budget - total(key)) + 0.001, at: now)
    }

    /// Every account with time in it, and how long until its oldest bucket leaves.
    mutating func accounts(at now: Instant) -> [(key: Key, operating: Double, resetIn: Duration?)] {
        for key in Array(buckets.keys) { prune(key, at: now) }
        return buckets.keys.sorted { ($0.caller, $0.method) < ($1.caller, $1.method) }.map { key in
            (key, total(key), buckets[key]?.first.map { $0.start + window - now })
        }
    }

    private func total(_ key: Key) -> Double { buckets[key]?.reduce(0) { $0 + $1.seconds } ?? 0 }

    private mutating func prune(_ key: Key, at now: Instant) {
        guard var list = buckets[key] else { return }
        list.removeAll { now - $0.start >= window }
        buckets[key] = list.isEmpty ? nil : list
    }
}
