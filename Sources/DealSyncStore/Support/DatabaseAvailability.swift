/// Whether the database can be reached, and what its supervisor does next: a pure value, time passed in, fed with
/// the outcome of each probe (``Database`` runs the probes).
///
/// While the database answers, the pool is probed every `interval` (`SELECT 1`, bounded by the probe's timeout).
/// A probe that fails is followed at once by a fresh connection to the server: if the server accepts it, the pool
/// was only busy; if not, the database is unavailable from then on, and the server is probed again after a delay
/// that starts at `retryFirst` and doubles up to `retryCap`. When the server accepts a connection again, the pool
/// gets one short look; a pool that still does not answer (PostgresNIO's own reconnection backs off up to a
/// minute, and its waiting requests wait as long) is replaced by a fresh one, once per outage.
public struct DatabaseAvailability: Sendable, Equatable {
    public struct Options: Sendable, Equatable {
        /// How often the pool is probed while the database answers.
        public var interval: Duration = .seconds(1)
        /// How long a probe may take: the pool's `SELECT 1`, or a fresh connection to the server.
        public var probeTimeout: Duration = .seconds(1)
        /// How long the pool gets to answer once the server is back, before it is replaced.
        public var poolCheckAfterOutage: Duration = .milliseconds(250)
        /// The first delay between probes of an unreachable server; it doubles up to `retryCap`.
        public var retryFirst: Duration = .milliseconds(100)
        public var retryCap: Duration = .seconds(1)

        public init() {}
    }

    public enum Status: Sendable, Equatable {
        case available
        case unavailable(since: ContinuousClock.Instant)
    }

    /// What the supervisor does next.
    public enum Step: Sendable, Equatable {
        /// Probe the pool after this long (`timeout`: how long the probe may take).
        case probePool(after: Duration, timeout: Duration)
        /// Open a fresh connection to the server after this long.
        case probeServer(after: Duration)
        /// Replace the pool by a fresh one, then probe it at once.
        case replacePool
    }

    public let options: Options
    public private(set) var status: Status = .available
    /// Failed server probes in a row.
    public private(set) var failures = 0
    /// Whether the pool was replaced during the current outage.
    public private(set) var replaced = false

    public init(options: Options = Options()) {
        self.options = options
    }

    public var isAvailable: Bool { status == .available }

    /// The first step: the pool is probed at once.
    public var start: Step { .probePool(after: .zero, timeout: options.probeTimeout) }

    /// The pool answered, or did not, within its probe's timeout.
    public mutating func pool(answered: Bool, at now: ContinuousClock.Instant) -> Step {
        if answered {
            status = .available
            failures = 0
            replaced = false
            return .probePool(after: options.interval, timeout: options.probeTimeout)
        }
        switch status {
        case .available:
            return .probeServer(after: .zero)
        case .unavailable:
            if !replaced { return .replacePool }
            // Replaced already: the fresh pool cannot connect either. Look at the server again after a while.
            failures += 1
            return .probeServer(after: retryDelay)
        }
    }

    /// A fresh connection to the server succeeded, or did not.
    public mutating func server(reachable: Bool, at now: ContinuousClock.Instant) -> Step {
        guard reachable else {
            if status == .available { status = .unavailable(since: now) }
            failures += 1
            return .probeServer(after: retryDelay)
        }
        switch status {
        case .available:
            // The server is there and the pool did not answer in time: the pool is busy, not broken.
            return .probePool(after: options.interval, timeout: options.probeTimeout)
        case .unavailable:
            return .probePool(after: .zero, timeout: options.poolCheckAfterOutage)
        }
    }

    /// The pool was replaced.
    public mutating func poolReplaced() -> Step {
        replaced = true
        return .probePool(after: .zero, timeout: options.probeTimeout)
    }

    /// The delay before the next probe of an unreachable server: `retryFirst` doubled per failure, up to `retryCap`.
    var retryDelay: Duration {
        var delay = options.retryFirst
        for _ in 1..<max(1, failures) {
            delay *= 2
            if delay >= options.retryCap { return options.retryCap }
        }
        return min(delay, options.retryCap)
    }
}
