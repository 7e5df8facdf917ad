import DealSyncCore
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Group commit for intake: concurrent webhook requests share one multi-row `INSERT` and one commit, and each is
/// answered only once the commit that holds its own row has completed.
///
/// The group's insert runs in a transaction of its own, `BEGIN` and `COMMIT` included, though one statement would
/// be committed on its own: PostgresNIO ends a statement at its `CommandComplete`, which PostgreSQL sends before
/// it commits an implicit transaction, so a request could be answered before its row is durable (or a failed
/// commit go unseen). The answer after `COMMIT`'s own completion cannot come too early.
///
/// Requests queue their item; a few flushers each take what is queued (up to `maxRows`), store it in one
/// transaction and resume every request in it. With no commit under way a request's item is taken at once; while
/// one is, the next group starts only once `groupRows` have queued or the oldest has waited `groupWait`, so under
/// load groups grow with the load and the number of commits does not (each commit costs both `serve` and
/// PostgreSQL far more than a row). A duplicate dedupe key is still reported as a
/// duplicate; a row PostgreSQL refuses (bad data) fails only its own request; a failed commit fails every request
/// of its group and stores nothing. A request that cannot be stored within `deadline` (the database is away)
/// gets an error instead of hanging, and its item is dropped if no flusher has taken it yet; one sweep finds
/// them, a timer per request would cost more than the insert.
public final class InboxWriter: Service, Sendable {
    public struct Options: Sendable {
        public var maxRows = 500
        /// Group commits under way at once, at most.
        public var flushers = 4
        /// While a commit is under way, the next group starts once this many requests have queued, or once the
        /// oldest has waited `groupWait`, whichever comes first.
        public var groupRows = 32
        public var groupWait: Duration = .milliseconds(2)
        public var deadline: Duration = .seconds(2)
        /// How long a group's transaction may take before the flusher gives up on it and fails its requests. A
        /// statement on a connection whose server crashed can wait for ever, and a flusher waiting on it would
        /// store nothing more (and keep the writer from stopping). The abandoned transaction is cancelled; should
        /// it commit after all, its rows are stored but were never acknowledged.
        public var storeTimeout: Duration = .seconds(10)

        public init() {}
    }

    /// Why a request was not stored.
    public struct NotStored: Error, Sendable, CustomStringConvertible {
        public enum Reason: String, Sendable {
            case timedOut = "timed_out"
            case databaseError = "database_error"
            case shuttingDown = "shutting_down"
        }

        public var reason: Reason
        public var description: String { "not stored: \(reason.rawValue)" }
    }

    let database: Database
    let logger: Logger
    let options: Options
    /// Test hook, called before each group's transaction begins; throwing there fails the group.
    let beforeStore: (@Sendable ([InboxItem]) async throws -> Void)?

    private struct Waiting {
        var item: InboxItem
        var continuation: CheckedContinuation<InboxStore.RecordResult, any Error>
        var since: ContinuousClock.Instant
    }

    private struct State {
        var nextID = 0
        var queue: [Int] = []
        var waiting: [Int: Waiting] = [:]
        var stopped = false
        /// Groups being stored now.
        var committing = 0

        /// What a flusher does next: store a group, wait for one to fill (up to the duration), or idle.
        enum Next {
            case store([(id: Int, item: InboxItem)])
            case gather(Duration)
            case idle
        }

        /// Takes the next group when one is due (see ``InboxWriter``).
        mutating func next(_ options: Options, at now: ContinuousClock.Instant) -> Next {
            // Requests that gave up while queued are gone from `waiting`: their items are not stored.
            while let first = queue.first, waiting[first] == nil { queue.removeFirst() }
            guard let oldest = queue.first.flatMap({ waiting[$0] }) else { return .idle }
            let waited = oldest.since.duration(to: now)
            if committing > 0, !stopped, queue.count < options.groupRows, waited < options.groupWait {
                return .gather(options.groupWait - waited)
            }
            var taken: [(Int, InboxItem)] = []
            while taken.count < options.maxRows, !queue.isEmpty {
                let id = queue.removeFirst()
                if let waiting = waiting[id] { taken.append((id, waiting.item)) }
            }
            committing += 1
            return .store(taken)
        }
    }

    private let state = Mutex(State())
    private let queued = Wakeup()

    public init(
        database: Database, logger: Logger, options: Options = Options(),
        beforeStore: (@Sendable ([InboxItem]) async throws -> Void)? = nil
    ) {
        self.database = database
        self.logger = logger
        self.options = options
        self.beforeStore = beforeStore
    }

    /// How many requests are waiting for their commit (queued, or in a group being committed).
    public var waiting: Int { state.withLock { $0.waiting.count } }

    /// Stores `item` with the next group commit; returns once that commit has completed, or fails once it has
    /// waited `deadline` (``run()`` sweeps the waiting requests a few times per deadline).
    public func record(_ item: InboxItem) async throws -> InboxStore.RecordResult {
        let id = state.withLock { s -> Int in
            s.nextID += 1
            return s.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let (accepted, wake) = self.state.withLock { s -> (Bool, Bool) in
                    guard !s.stopped, !Task.isCancelled else { return (false, false) }
                    s.waiting[id] = Waiting(item: item, continuation: continuation, since: .now)
                    s.queue.append(id)
                    // A flusher is woken when a group may be due: none is being stored, or this item starts the
                    // wait for the next one or fills it. Meanwhile the one waiting for a group wakes by itself.
                    return (true, s.committing == 0 || s.queue.count == 1 || s.queue.count == self.options.groupRows)
                }
                if !accepted {
                    continuation.resume(throwing: NotStored(reason: .shuttingDown))
                } else if wake {
                    self.queued.signalOne()
                }
            }
        } onCancel: {
            self.fail([id], NotStored(reason: .timedOut))
        }
    }

    /// Fails every request that has waited `deadline` (queued, or in a group whose commit hangs).
    private func expire(at now: ContinuousClock.Instant) {
        let expired = state.withLock { s in s.waiting.filter { $0.value.since.duration(to: now) >= options.deadline }.map(\.key) }
        if !expired.isEmpty { fail(expired, NotStored(reason: .timedOut)) }
    }

    /// Sweeps the waiting requests for expired deadlines until the writer has stopped and nobody waits.
    private func sweepLoop() async {
        let interval = min(options.deadline / 8, .milliseconds(100))
        while !state.withLock({ $0.stopped && $0.waiting.isEmpty }) {
            try? await Task.sleep(for: interval)
            if Task.isCancelled {
                // Cancelled, not shut down gracefully: nobody is left waiting for a commit that may not come.
                fail(state.withLock { Array($0.waiting.keys) }, NotStored(reason: .shuttingDown))
                return
            }
            expire(at: .now)
        }
    }

    /// Resumes the requests `ids` that are still waiting with `error`, and drops their items from the queue.
    private func fail(_ ids: [Int], _ error: any Error) {
        let continuations = state.withLock { s in ids.compactMap { s.waiting.removeValue(forKey: $0)?.continuation } }
        for continuation in continuations { continuation.resume(throwing: error) }
    }

    /// Runs the flushers until graceful shutdown (or ``stop()``), then stores what is queued and returns. The
    /// gateway lists it before the HTTP server, so it stops after the server: every answered request was stored.
    public func run() async {
        await withTaskCancellationHandler {
            await runUntilStopped()
        } onCancel: {
            self.stop()
        }
    }

    private func runUntilStopped() async {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for _ in 0..<max(1, options.flushers) {
                    group.addTask { await self.flushLoop() }
                }
                group.addTask { await self.sweepLoop() }
            }
        } onGracefulShutdown: {
            self.stop()
        }
    }

    /// Stops taking requests; the flushers store what is queued and end.
    public func stop() {
        state.withLock { $0.stopped = true }
        queued.signal()
    }

    private func flushLoop() async {
        while true {
            switch state.withLock({ $0.next(options, at: .now) }) {
            case .store(let batch):
                await flush(batch)
                state.withLock { $0.committing -= 1 }
            case .gather(let wait):
                await queued.wait(timeout: wait)
            case .idle:
                if state.withLock({ $0.stopped && $0.queue.isEmpty }) { return }
                await queued.wait(timeout: .milliseconds(100))
            }
        }
    }

    private func flush(_ batch: [(id: Int, item: InboxItem)]) async {
        do {
            let items = batch.map(\.item)
            let notices = Notices()
            let ids = try await withDeadline(options.storeTimeout) { try await self.store(items, notices: notices) }
            resume(batch, ids)
            // The lanes are woken once the requests are answered.
            await database.announce(notices, logger: logger)
        } catch  where batch.count > 1 && Self.isBadData(error) {
            // One row PostgreSQL refuses (bad data) must not fail the others' answers: each is stored alone.
            for one in batch { await flush([one]) }
        } catch {
            if error is DeadlinePassed { database.probeSoon() }
            logger.error(
                "webhooks could not be stored", metadata: ["rows": "\(batch.count)", "error": "\(String(reflecting: type(of: error)))"])
            fail(batch.map(\.id), NotStored(reason: .databaseError))
        }
    }

    private func store(_ items: [InboxItem], notices: Notices) async throws -> [Int64?] {
        try await beforeStore?(items)
        return try await database.client.checkedTransaction(logger: logger) { tx in
            try await InboxRecords.insert(items, notices: notices, on: tx, logger: logger)
        }
    }

    private func resume(_ batch: [(id: Int, item: InboxItem)], _ ids: [Int64?]) {
        let continuations = state.withLock { s in
            zip(batch, ids).compactMap { entry, id in s.waiting.removeValue(forKey: entry.id).map { ($0.continuation, id) } }
        }
        for (continuation, id) in continuations {
            continuation.resume(returning: id.map { .stored(id: $0) } ?? .duplicate)
        }
    }

    /// Whether the database refused the data itself (SQLSTATE class 22 or 23), not the connection or the commit.
    static func isBadData(_ error: any Error) -> Bool {
        let underlying = (error as? TransactionError)?.closureError ?? error
        guard let psql = underlying as? PSQLError, let state = psql.serverInfo?[.sqlState] else { return false }
        return state.hasPrefix("22") || state.hasPrefix("23")
    }
}
