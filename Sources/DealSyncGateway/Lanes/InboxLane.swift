import DealSyncConnectors
import DealSyncCore
import DealSyncStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// One connector's inbox: decodes and decides its rows a batch at a time, and fetches the records of its id-only
/// events in batches, within its own connector's rate limit.
///
/// Every connector has its own lane, so a burst, a slow CRM or a rate-limited portal delays only its own changes.
/// A CRM connector's lane runs in the one process holding that connector's lease; MasterDeal's runs in every
/// process, the processes sharing its rows through `FOR UPDATE SKIP LOCKED`.
public final class InboxLane: Service {
    public struct Options: Sendable {
        /// Rows decided per transaction.
        public var batchSize = 200
        /// The longest an idle lane sleeps (a stored row's `NOTIFY` wakes it at once; a row waiting for its next
        /// attempt wakes it when due).
        public var idlePoll: Duration = .seconds(5)
        /// The longest a batch's transaction may take before the lane gives up on it and tries again (its rows
        /// stay locked until it ends, and are skipped meanwhile).
        public var batchLimit: Duration = .seconds(60)
        /// How many batches may be under way at once. The next batch is claimed once the one before holds the locks
        /// of its records, so it skips that batch's rows and waits for any record the two share: per record, rows are
        /// still decided in order, while one batch decides and saves the next is claimed and loaded.
        public var overlap = 4

        public init(batchSize: Int = 200, idlePoll: Duration = .seconds(5), overlap: Int = 4) {
            self.batchSize = batchSize
            self.idlePoll = idlePoll
            self.overlap = overlap
        }
    }

    let connector: any Connector
    /// Read once per batch: the batch is decoded and decided by one configuration.
    let generations: CurrentGeneration
    /// Claims are made only while the process's presence is held (`nil`: a lane driven by hand, in tests).
    let presence: Presence?
    let metrics: GatewayMetrics
    let wakeup: Wakeup
    let options: Options
    let worker: String
    let logger: Logger

    init(
        connector: any Connector, generations: CurrentGeneration, presence: Presence?, metrics: GatewayMetrics,
        wakeup: Wakeup, options: Options, worker: String, logger: Logger
    ) {
        self.connector = connector
        self.generations = generations
        self.presence = presence
        self.metrics = metrics
        self.wakeup = wakeup
        self.options = options
        self.worker = worker
        self.logger = logger
    }

    /// A lane of `gateway`'s connector `connector` that runs only when driven (``cycle()``): tests, and tools that
    /// work a backlog by hand.
    public convenience init?(
        of gateway: Gateway, connector id: String, options: Options = Options(), worker: String, wakeup: Wakeup = Wakeup()
    ) {
        guard let connector = gateway.registry.connector(id) else { return nil }
        self.init(
            connector: connector, generations: gateway.generations, presence: nil, metrics: gateway.metrics,
            wakeup: wakeup, options: options, worker: worker, logger: gateway.logger)
    }

    var id: String { connector.config.id }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await presence?.waitUntilHeld()
            do {
                // Not waiting for ever on a connection whose server crashed: see abandonedWhenStopping.
                let database = generations.current.inbox.context.database
                try await database.abandonedWhenStopping { try await self.cycles() }
                // Rows stored meanwhile announced themselves; rows put back for later are found by their due time.
                if wakeup.takeSignal() { continue }
                let due = try await database.abandonedWhenStopping {
                    try await InboxStore(database: database, logger: self.logger).nextDue(connector: self.id)
                }
                await wakeup.wait(timeout: IdleWait.duration(nextDue: due, longest: options.idlePoll))
            } catch  where Task.isCancelled || error is CancellationError {
                return
            } catch {
                logger.error(
                    "inbox lane cycle failed", metadata: ["connector": "\(id)", "error": "\(ErrorSummary.line(error))"])
                await pause(.seconds(1))
            }
        }
    }

    /// Decides batches while rows are surely waiting, up to ``Options/overlap`` of them under way at once, each claimed
    /// once the one before holds its records' locks.
    ///
    /// Another batch is claimed only when the last claim was full (the backlog goes on) or rows were stored since it
    /// began (their notice came): a claim that would find nothing costs a transaction of four statements, and one
    /// after every batch once made up a third of what a lightly loaded gateway sent PostgreSQL.
    func cycles() async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            var (running, more) = (0, true)
            while true {
                // Told to stop (shutdown, or the lane handed over): the batches under way end, no other begins.
                if Task.isShuttingDownGracefully || Task.isCancelled { more = false }
                if more, running < max(1, options.overlap) {
                    let claim = Claim()
                    // This claim takes whatever was announced before it.
                    _ = wakeup.takeSignal()
                    group.addTask {
                        defer { claim.locked.signal() }
                        return try await self.cycle(locked: { rows in claim.claimed(rows) })
                    }
                    running += 1
                    // Bounded like the batch itself: a batch that hangs does not keep the next from being claimed.
                    await claim.locked.wait(timeout: options.batchLimit)
                    more = claim.rows >= options.batchSize || wakeup.takeSignal()
                    continue
                }
                guard try await group.next() != nil else { return }
                running -= 1
                // Rows stored while the batches under way decided theirs.
                if !more, wakeup.takeSignal() { more = true }
            }
        }
    }

    /// What one batch's claim took, told to the loop that waits to claim the next.
    private final class Claim: Sendable {
        let locked = Wakeup()
        private let count = Mutex(0)
        var rows: Int { count.withLock { $0 } }

        func claimed(_ rows: Int) {
            count.withLock { $0 = rows }
            locked.signal()
        }
    }

    /// Decides one batch, then fetches what its id-only rows asked for; returns whether there was work. `locked`
    /// is called with the rows claimed once the batch holds its records' locks (see
    /// ``InboxProcessor/processBatch(connector:limit:decode:worker:locked:)``).
    @discardableResult
    public func cycle(locked: (@Sendable (Int) async -> Void)? = nil) async throws -> Bool {
        let generation = generations.current
        let registry = generation.registry
        let inbox = generation.inbox
        let started = ContinuousClock.now
        let (id, limit, worker) = (self.id, options.batchSize, self.worker)
        let told = Atomic<Bool>(false)
        let steps = try await inbox.context.database.bounded(options.batchLimit) {
            try await inbox.processBatch(
                connector: id, limit: limit, decode: { try registry.decode($0) }, worker: worker,
                locked: { rows in
                    told.store(true, ordering: .relaxed)
                    await locked?(rows)
                })
        }
        // A batch that failed and was decided row by row never held its locks as one: its rows are told now, so the
        // lane still knows whether its claim was full.
        if !told.load(ordering: .relaxed), !steps.isEmpty { await locked?(steps.count) }
        metrics.laneClaim(id, found: !steps.isEmpty)
        guard !steps.isEmpty else { return false }
        metrics.laneBatch(id, rows: steps.count, seconds: started.duration(to: .now).seconds)
        var fetches: [(inboxID: Int64, requests: [FetchRequest], lineage: UUID, trace: [String: String])] = []
        // The writes' relays are woken by the transaction's notices, one target at a time.
        for step in steps {
            switch step {
            case .failed(let inboxID, let error):
                logger.warning(
                    "inbox row failed", metadata: ["connector": "\(id)", "inbox_id": "\(inboxID)", "error": "\(error.prefix(200))"])
            case .fetch(let inboxID, let requests, let lineage, let trace): fetches.append((inboxID, requests, lineage, trace))
            case .processed, .idle, .ignored, .deferred: break
            }
        }
        if !fetches.isEmpty { await fetch(fetches, registry: registry, inbox: inbox) }
        return true
    }

    /// Reads the records a batch's rows asked for, with as few calls as the connector's batch sizes allow (amoCRM
    /// pages of 250, Bitrix24 `batch` of 50), and stores them as new rows of their lanes.
    private func fetch(
        _ rows: [(inboxID: Int64, requests: [FetchRequest], lineage: UUID, trace: [String: String])], registry: ConnectorRegistry,
        inbox: InboxProcessor
    ) async {
        var byConnector: [String: [(inboxID: Int64, recordID: String, lineage: UUID, trace: [String: String])]] = [:]
        for row in rows {
            for request in row.requests {
                byConnector[request.connector, default: []].append((row.inboxID, request.recordID, row.lineage, row.trace))
            }
        }
        var fetched: [Int64: [InboxItem]] = Dictionary(uniqueKeysWithValues: rows.map { ($0.inboxID, []) })
        var failed: Set<Int64> = []
        for (connectorID, wanted) in byConnector.sorted(by: { $0.key < $1.key }) {
            guard let connector = registry.connector(connectorID) else { continue }
            let ids = Array(Set(wanted.map(\.recordID))).sorted()
            do {
                // One lineage per call: the first row's (each stored record keeps the lineage of a row that asked).
                let items = try await connector.fetch(ids, lineage: wanted[0].lineage)
                var byRecord: [String: [InboxItem]] = [:]
                for item in items { byRecord[Self.recordID(of: item, connector: connector) ?? ids[0], default: []].append(item) }
                for want in wanted {
                    for var item in byRecord[want.recordID] ?? []
                    where !(fetched[want.inboxID]?.contains { $0.dedupeKey == item.dedupeKey } ?? false) {
                        item.lineageID = want.lineage
                        // The fetched record goes on in the trace of the event that named it.
                        item.headers.merge(want.trace) { $1 }
                        fetched[want.inboxID, default: []].append(item)
                    }
                }
                metrics.inbox(connectorID, result: "fetched", count: items.count)
            } catch {
                failed.formUnion(wanted.map(\.inboxID))
                metrics.inbox(connectorID, result: "fetch_failed", count: wanted.count)
                logger.warning(
                    "fetch failed",
                    metadata: [
                        "connector": "\(connectorID)", "records": "\(ids.count)",
                        "error": "\(String(describing: error).prefix(200))",
                    ])
            }
        }
        do {
            let completed = try await inbox.completeFetches(
                fetched.filter { !failed.contains($0.key) }.map { ($0.key, $0.value) }.sorted { $0.0 < $1.0 }, worker: worker)
            if !completed.isEmpty { wakeup.signal() }
            if !failed.isEmpty {
                try await inbox.retryFetches(Array(failed), worker: worker, error: "fetch failed", delaySeconds: 2)
            }
        } catch {
            logger.warning(
                "fetched records could not be stored",
                metadata: ["connector": "\(id)", "error": "\(String(describing: error).prefix(200))"])
        }
    }

    /// The record a fetched item holds, as its connector decodes it.
    static func recordID(of item: InboxItem, connector: any Connector) -> String? {
        guard case .observations(let observations)? = try? connector.decode(InboxRow(id: 0, item: item)) else { return nil }
        return observations.first?.recordID
    }
}

extension Duration {
    /// This duration in seconds, as a `Double`.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
