/// Bitrix24's second limit seen from the caller: each method's execution time (`time.operating`) summed over ten
/// minutes, per application or webhook, refused with 429 `OPERATION_TIME_LIMIT` above 480 s. dealsync paces each
/// method so that it never gets there.
///
/// Pure: times are seconds of a monotonic clock passed in, and ``wait(before:at:)`` answers how long to hold a call.
///
/// Only the caller spends its own account, so what it spent within the window bounds what the portal holds: each
/// call is remembered with what it cost, and leaves the estimate ten minutes after it was made (the portal's
/// one-minute buckets release it at the latest then). A call goes out only while the estimate plus the call's own
/// cost stays under ``Policy/headroom`` of the budget; a call's cost is the most one of its kind added to the
/// reported account lately. When the portal reports more than the estimate holds (a restart, another process of
/// the same application), the difference counts as spent now. A refusal holds the method until the reset the last
/// successful answer announced (`operating_reset_at`, as Bitrix24 advises), else for a tenth of the window.
struct OperatingBudget: Sendable, Equatable {
    struct Policy: Sendable, Equatable {
        /// Seconds per method per window (480 at Bitrix24).
        var budget: Double = 480
        /// Seconds a spend counts (ten minutes).
        var window: Double = 600
        /// The share of the budget dealsync lets a method reach, for costs a little above the estimate.
        var headroom: Double = 0.9
    }

    private struct Account: Sendable, Equatable {
        /// (when, seconds) of each call within the window, oldest first.
        var spends: [Spend] = []
        /// The last `operating` the portal reported, and when.
        var reported: Double?
        /// The most one call added lately (decaying slowly toward smaller calls); until a second answer tells, the
        /// headroom's size.
        var cost: Double
        /// Refused until then (a 429 seen).
        var blockedUntil: Double?
        /// When the oldest bucket leaves, as the last answer said.
        var resetAt: Double?

        func total(at now: Double, window: Double) -> Double {
            spends.reduce(0) { $0 + ($1.at > now - window ? $1.seconds : 0) }
        }
    }

    private struct Spend: Sendable, Equatable {
        var at: Double
        var seconds: Double
    }

    let policy: Policy
    private var accounts: [String: Account] = [:]

    init(policy: Policy = Policy()) { self.policy = policy }

    // MARK: Learning

    /// A call to `method` finished at `now` and the portal reported its account at `operating`, releasing some of it
    /// `resetIn` seconds later.
    mutating func record(method: String, operating: Double, resetIn: Double? = nil, at now: Double) {
        var account = accounts[method] ?? Account(cost: policy.budget * (1 - policy.headroom))
        account.spends.removeAll { $0.at <= now - policy.window }
        // What the account grew by since the last answer: this call's cost, or less if time left the window meanwhile.
        // The first answer tells nothing of one call's cost (the account may hold earlier calls).
        if let reported = account.reported {
            account.cost = max(max(0, operating - reported), account.cost * 0.9)
        }
        let estimated = account.total(at: now, window: policy.window)
        let added = account.reported.map { max(0, operating - $0) } ?? operating
        // Whatever the portal holds that the estimate does not counts as spent now, so the estimate never falls below.
        account.spends.append(Spend(at: now, seconds: max(added, operating - estimated)))
        account.reported = operating
        account.resetAt = resetIn.map { now + $0 }
        accounts[method] = account
    }

    /// The portal refused `method` with `OPERATION_TIME_LIMIT`: held for `resetIn` seconds if the refusal said, else
    /// until the reset the last answer announced, else for a tenth of the window (when the next bucket could leave).
    mutating func refused(method: String, resetIn: Double?, at now: Double) {
        var account = accounts[method] ?? Account(cost: policy.budget * (1 - policy.headroom))
        let until = resetIn.map { now + $0 } ?? account.resetAt.flatMap { $0 > now ? $0 : nil } ?? now + policy.window / 10
        account.blockedUntil = max(now + 1, until)
        accounts[method] = account
    }

    // MARK: Deciding

    /// Seconds to hold a call that spends on `methods` (a `batch` and the methods of its commands), or `nil` to send
    /// it now.
    func wait(before methods: [String], at now: Double) -> Double? {
        let waits = methods.compactMap { wait(before: $0, at: now) }
        return waits.max()
    }

    private func wait(before method: String, at now: Double) -> Double? {
        guard let account = accounts[method] else { return nil }
        var until = now
        if let blocked = account.blockedUntil, blocked > until { until = blocked }
        let limit = policy.budget * policy.headroom
        // The estimate falls as spends leave the window, oldest first; find when the next call fits.
        var total = account.total(at: until, window: policy.window)
        for spend in account.spends where spend.at > until - policy.window {
            guard total + account.cost > limit, total > 0 else { break }
            until = max(until, spend.at + policy.window)
            total -= spend.seconds
        }
        return until > now ? until - now : nil
    }
}
