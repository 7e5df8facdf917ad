import DealSyncConnectors
import DealSyncStore
import Logging
import ServiceLifecycle
import Synchronization

/// Refreshes the gauges that come from the database: outbox depth and age, inbox backlog, open dead letters.
/// It also divides a shared rate limit among the processes present: MasterDeal's writes are delivered from
/// every process, so each takes 1/N of its configured rate.
final class StatsService: Service {
    let claims: OutboxClaims
    let inbox: InboxStore
    let deadLetters: DeadLetterStore
    let drift: DriftStore
    let metrics: GatewayMetrics
    /// The connectors' limiters as configured now (a reload adds and removes connectors).
    let limiters: @Sendable () -> [(connector: String, limiter: RateLimiter)]
    /// Limiters every process uses at once for one API (MasterDeal), shared out by the processes present.
    let shared: [(connector: String, limiter: RateLimiter)]
    let interval: Duration
    /// This process's worker name (its relays' presence).
    let worker: String
    let logger: Logger
    private let reportedWait = Mutex<[String: Duration]>([:])
    /// When the queues are counted next (``QueueCounting``).
    private let counting: Mutex<QueueCounting>
    /// Every connector configured since the start: a removed connector's waiting writes and rows stay reported.
    private let known = Mutex<[String]>([])

    /// The connectors reported on: those configured now, then those removed since the start.
    func targets(_ configured: [String]) -> [String] {
        known.withLock { known in
            for id in configured where !known.contains(id) { known.append(id) }
            return known
        }
    }

    init(
        claims: OutboxClaims, inbox: InboxStore, deadLetters: DeadLetterStore, drift: DriftStore, metrics: GatewayMetrics,
        limiters: @escaping @Sendable () -> [(connector: String, limiter: RateLimiter)],
        shared: [(connector: String, limiter: RateLimiter)], interval: Duration,
        worker: String, logger: Logger
    ) {
        self.claims = claims
        self.inbox = inbox
        self.deadLetters = deadLetters
        self.drift = drift
        self.metrics = metrics
        self.limiters = limiters
        self.shared = shared
        self.interval = interval
        self.worker = worker
        self.logger = logger
        self.counting = Mutex(QueueCounting(interval: interval))
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await claims.database.abandonedWhenStopping { try await self.refresh() }
            } catch {
                logger.debug("stats refresh failed")
            }
            await pause(interval)
        }
    }

    func refresh() async throws {
        // This process counts itself even before its relays are present.
        var processes = 1
        try await claims.database.recountListeners {
            processes = max(try await claims.presentWorkers(counting: worker), 1)
            return processes > 1
        }
        for (connector, limiter) in shared {
            limiter.share = 1 / Double(processes)
            metrics.rateShare(connector, limiter.share)
        }
        let limiters = self.limiters()
        let targets = targets(limiters.map(\.connector))
        // The queues are counted exactly, but no more often than keeps the counting a small share of the time.
        let started = ContinuousClock.now
        var counted: [QueueStatistics.Queue: Int]?
        if counting.withLock({ $0.isDue(at: started) }) {
            let depth = try await claims.depth()
            for target in targets {
                let row = depth.first { $0.target == target }
                metrics.outboxDepth(target, open: row?.open ?? 0, oldestSeconds: row?.oldestSeconds ?? 0)
            }
            let backlog = try await inbox.backlog()
            for target in targets {
                let row = backlog.first { $0.connector == target }
                metrics.inboxBacklog(target, pending: row?.pending ?? 0, oldestSeconds: row?.oldestSeconds ?? 0)
            }
            counting.withLock { $0.counted(at: started, took: started.duration(to: .now)) }
            counted = [.outbox: depth.reduce(0) { $0 + $1.open }, .inbox: backlog.reduce(0) { $0 + $1.pending }]
        }
        let open = try await deadLetters.openCounts()
        for target in targets {
            metrics.openDeadLetters(target, count: open[target] ?? 0)
        }
        let (openDrift, oldest) = try await drift.openCounts()
        for (connector, field) in try await drift.knownFields() {
            metrics.driftOpen(
                connector, field: field, count: openDrift.first { $0.connector == connector && $0.field == field }?.count ?? 0)
        }
        for target in targets {
            metrics.driftOldest(target, seconds: oldest[target] ?? 0)
        }
        for run in try await OnboardingStore.latestRuns(database: claims.database, logger: logger) {
            metrics.onboarding(run.connector, progress: run.progress, writesWaiting: run.writesWaiting)
        }
        for (connector, limiter) in limiters {
            let total = limiter.statistics.waited
            let previous = reportedWait.withLock { reported in
                defer { reported[connector] = total }
                return reported[connector] ?? .zero
            }
            if total > previous { metrics.limiterWait(connector, total - previous) }
        }
        // Last: the gauges are refreshed even when an analysis fails.
        if let counted { try await analyzeGrownQueues(open: counted) }
    }

    /// Analyses the queues that grew past what the planner knows of them (``QueueStatistics``).
    func analyzeGrownQueues(open: [QueueStatistics.Queue: Int]) async throws {
        // The catalogs are read only once a queue holds enough open rows to be analysed at all.
        guard open.values.contains(where: { $0 >= QueueStatistics.minimumGrowth }) else { return }
        let estimated = try await QueueStatistics.known(database: claims.database, logger: logger)
        for table in QueueStatistics.due(open: open, known: estimated) {
            if try await QueueStatistics.analyze(table, database: claims.database, logger: logger) {
                logger.info(
                    "queue analysed",
                    metadata: [
                        "table": "\(table.rawValue)", "open": "\(open[table] ?? 0)", "estimated": "\(estimated[table]?.open ?? 0)",
                    ])
            }
        }
    }
}

/// When the statistics round counts the queues (the outbox's open writes, the inbox's pending rows): every round while
/// counting is cheap, and when it is not, no more often than keeps it to ``share`` of the time. The counts are exact,
/// which is what the alerts compare, but their cost grows with the queues: in the benchmark's 100,000-row drain one
/// count of the outbox took 94 ms, every 5 s, 7.5% of PostgreSQL's time; kept to 1% of the time, it is counted every
/// other round (10 s) while the backlog lasts, and every round again once counting is quick.
struct QueueCounting {
    let interval: Duration
    var share = 0.01
    private(set) var next: ContinuousClock.Instant?

    init(interval: Duration) { self.interval = interval }

    func isDue(at now: ContinuousClock.Instant) -> Bool { next.map { now >= $0 } ?? true }

    /// A count that began at `started` took `took`.
    mutating func counted(at started: ContinuousClock.Instant, took: Duration) {
        // A little short of the round: the rounds are `interval` apart, and a count a round later is never skipped.
        next = started + max(interval * 0.9, took * (1 / share))
    }
}
