/// amoCRM's request limit for one integration: a sliding one-second window, and a block after repeated
/// violations that lasts until lifted (support does it at amoCRM; `POST /_sim/unblock` here).
///
/// Every arriving request counts, refused ones included: amoCRM counts calls, not successes.
struct AmoRateLimiter: Sendable {
    enum Verdict: Sendable, Equatable {
        case allowed
        /// 429 with an HTML body and no `Retry-After`.
        case tooManyRequests
        /// 403 nginx page: the account is blocked.
        case blocked
    }

    typealias Instant = ContinuousClock.Instant

    var limit: Int
    var window: Duration
    var blockAfterViolations: Int?
    var violationWindow: Duration

    private var arrivals: [Instant] = []
    private var violations: [Instant] = []
    private(set) var isBlocked = false
    /// The most requests that arrived within any one window.
    private(set) var peak = 0

    init(limit: Int, window: Duration = .seconds(1), blockAfterViolations: Int?, violationWindow: Duration) {
        self.limit = limit
        self.window = window
        self.blockAfterViolations = blockAfterViolations
        self.violationWindow = violationWindow
    }

    mutating func admit(at now: Instant) -> Verdict {
        if let first = arrivals.firstIndex(where: { now - $0 < window }) {
            arrivals.removeFirst(first)
        } else {
            arrivals.removeAll(keepingCapacity: true)
        }
        arrivals.append(now)
        peak = max(peak, arrivals.count)
        if isBlocked { return .blocked }
        guard arrivals.count > limit else { return .allowed }
        violations.removeAll { now - $0 >= violationWindow }
        violations.append(now)
        if let threshold = blockAfterViolations, violations.count >= threshold { isBlocked = true }
        return .tooManyRequests
    }

    mutating func block() { isBlocked = true }

    mutating func unblock() {
        isBlocked = false
        violations.removeAll()
        arrivals.removeAll()
    }
}
