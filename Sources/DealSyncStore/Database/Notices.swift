import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// What a transaction tells the listening processes once it has committed: which lanes have inbox rows and which
/// targets have writes to send. Collected inside the transaction, sent after its commit by
/// ``Database/transaction(logger:_:)``.
///
/// `NOTIFY` is not sent inside the transaction that wrote the rows: PostgreSQL lets one notifying transaction
/// commit at a time (it holds a lock on the database from its notifications until its commit has been flushed),
/// so every intake group, lane batch and relay round would wait for the others' disk flushes in turn. Measured
/// with `pgbench` (32 clients, `fsync` on): a one-row insert 16,800 commits/s, the same insert with a `NOTIFY` in
/// its transaction 4,000. A notice is only a hint (lanes and relays also look on their own), so one lost between
/// the commit and its `NOTIFY` costs latency, never a row.
public final class Notices: Sendable {
    public enum Channel: String, Sendable {
        /// Inbox rows were stored; the payload names their connector (its lane).
        case inbox = "dealsync_inbox"
        /// Outbox writes were stored; the payload names their target (an empty one wakes every relay).
        case outbox = "dealsync_outbox"
    }

    private let pending = Mutex<[Channel: Set<String>]>([:])

    public init() {}

    /// Asks for `payloads` to be announced on `channel` once the transaction has committed.
    public func wake(_ channel: Channel, _ payloads: some Sequence<String>) {
        let payloads = Set(payloads)
        guard !payloads.isEmpty else { return }
        pending.withLock { $0[channel, default: []].formUnion(payloads) }
    }

    /// Everything asked for so far, leaving nothing behind.
    func take() -> [Channel: Set<String>] {
        pending.withLock { pending in
            defer { pending = [:] }
            return pending
        }
    }
}

/// A notice as it travels on its channel: the lane or target it names, and the process that sent it. The sending
/// process wakes its own lanes and relays as soon as the transaction has committed (``Database/listen(to:wake:)``),
/// without waiting for its `NOTIFY` to come back through PostgreSQL, and skips the notification when it does.
///
/// The text is the origin (``originLength`` lowercase hexadecimal digits), a colon and the name; a payload without
/// that prefix (a hint sent by `psql` or the `dlq` command) is a name with no origin, which every process hears.
public struct NoticePayload: Sendable, Equatable {
    public var origin: String?
    public var name: String

    public static let originLength = 16

    public init(origin: String?, name: String) {
        self.origin = origin
        self.name = name
    }

    public init(text: String) {
        let utf8 = text.utf8
        let hex = utf8.prefix(Self.originLength)
        let colon = utf8.dropFirst(Self.originLength).first
        guard hex.count == Self.originLength, colon == UInt8(ascii: ":"),
            hex.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) })
        else {
            self.init(origin: nil, name: text)
            return
        }
        self.init(origin: String(text.prefix(Self.originLength)), name: String(text.dropFirst(Self.originLength + 1)))
    }

    public var text: String { origin.map { "\($0):\(name)" } ?? name }

    /// A new process's origin: random, so that two processes (or two `Database` values of one) never share one.
    static func newOrigin() -> String {
        let digits = String(UInt64.random(in: .min ... .max), radix: 16)
        return String(repeating: "0", count: originLength - digits.count) + digits
    }
}

/// Sends committed transactions' notices, one statement at a time per process: what transactions hand over while
/// one is being sent goes out together with the next, so the number of `NOTIFY` transactions does not grow with
/// the number of commits.
///
/// No service of its own: the transaction that finds nobody sending sends (and keeps sending what others hand over
/// meanwhile, for at most ``rounds`` statements, so a lane or a flusher is not kept from its own work under load;
/// then a task of its own sends what is left).
package final class NoticeSender: Sendable {
    package typealias Statement = @Sendable ([(channel: Notices.Channel, payload: String)]) async throws -> Void

    private struct State {
        var pending: [Notices.Channel: Set<String>] = [:]
        var sending = false
    }

    private let state = Mutex(State())
    private let logger: Logger
    /// How many statements one transaction sends on behalf of the others before handing over.
    package static let rounds = 2

    package init(logger: Logger) {
        self.logger = logger
    }

    /// Hands `notices` over and, if nobody is sending, sends with `statement` until nothing is pending (or, after
    /// ``rounds`` statements, leaves the rest to a task). `locally` is told of them first, before any statement.
    package func send(
        _ notices: Notices, locally: ([Notices.Channel: Set<String>]) -> Void = { _ in }, with statement: @escaping Statement
    ) async {
        let taken = notices.take()
        guard !taken.isEmpty else { return }
        locally(taken)
        let lead = state.withLock { s -> Bool in
            s.pending.merge(taken) { $0.union($1) }
            guard !s.sending else { return false }
            s.sending = true
            return true
        }
        guard lead else { return }
        if await drain(rounds: Self.rounds, with: statement) { return }
        // Bounded: it ends as soon as a statement finds nothing more handed over.
        Task { _ = await self.drain(rounds: .max, with: statement) }
    }

    /// Sends what is pending, up to `rounds` statements; returns true when nothing was left (and sending is over).
    private func drain(rounds: Int, with statement: Statement) async -> Bool {
        for _ in 0..<rounds {
            // Whether anything is left is what the statement would send, never whether a channel is named: a
            // sender that saw a channel with nothing in it kept `sending` set for good, and nobody sent again.
            let batch = state.withLock { s -> [(channel: Notices.Channel, payload: String)] in
                let batch = s.pending.flatMap { channel, payloads in payloads.sorted().map { (channel, $0) } }
                s.pending = [:]
                if batch.isEmpty { s.sending = false }
                return batch
            }
            if batch.isEmpty { return true }
            do {
                try await statement(batch)
            } catch {
                logger.debug("notices not sent", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            }
        }
        // Something left goes to a task, which finds out by the same test as above whether it is anything to send.
        return state.withLock { s in
            if s.pending.isEmpty { s.sending = false }
            return !s.sending
        }
    }
}

extension Database {
    /// Runs `body` in a transaction and, once it has committed, sends the notices it asked for (``Notices``).
    /// A transaction that rolls back sends none. Throws ``TransactionError`` (its COMMIT checked: ``PostgresConnection/checkedTransaction(logger:file:line:isolation:_:)``).
    public func transaction<Result>(
        logger: Logger, file: String = #file, line: Int = #line,
        _ body: (PostgresConnection, Notices) async throws -> sending Result
    ) async throws -> sending Result {
        let notices = Notices()
        let result = try await client.checkedTransaction(logger: logger, file: file, line: line) { tx in
            try await body(tx, notices)
        }
        await announce(notices, logger: logger)
        return result
    }

    /// Sends `notices` of a committed transaction: to this process's listeners at once, and with `NOTIFY` to the
    /// others while any may be listening (``recountListeners(_:)``).
    func announce(_ notices: Notices, logger: Logger) async {
        let origin = noticeOrigin
        await noticeSender.send(notices, locally: hear) { batch in
            guard self.notifiesOthers else { return }
            // Bounded: a statement on a connection whose server crashed may never answer, and the sender waiting on
            // it would hold every later notice of the process (and the flusher or lane that sends them) for good.
            try await withDeadline(Self.noticeLimit) {
                // A transaction of its own that waits for no disk flush: a notification lost in a crash is a hint
                // lost, and the lock it takes is held for as short a time as possible.
                try await self.client.run(
                    """
                    SELECT set_config('synchronous_commit', 'off', true), pg_notify(c, p)
                    FROM unnest(\(batch.map(\.channel.rawValue)), \(batch.map { NoticePayload(origin: origin, name: $0.payload).text }))
                        AS n(c, p)
                    """, logger: logger)
            }
        }
    }

    /// How long sending notices may take before they are given up (the lanes and relays look on their own too).
    static let noticeLimit: Duration = .seconds(5)

    /// Whether committed transactions' notices are sent to other processes (`NOTIFY`). True until a count of the
    /// processes present finds none but this one (``recountListeners(_:)``), and again as soon as another process
    /// greets this one (``greet(logger:)``, sent by a process that runs lanes as it becomes present) or a count
    /// finds one.
    public var notifiesOthers: Bool { listeners.withLock { $0.others } }

    /// Sets ``notifiesOthers`` to what `othersPresent` finds, unless another process greeted this one while it
    /// counted: a process that became present meanwhile greeted it after the count had missed that process. A
    /// process alone sends no `NOTIFY`: those statements were a third of its commits at 50 changes a second and
    /// nearly half in a drain, each delivered back to its own two listeners only to be skipped.
    public func recountListeners(_ othersPresent: () async throws -> Bool) async rethrows {
        let heard = listeners.withLock { $0.heard }
        let others = try await othersPresent()
        listeners.withLock { state in
            if state.heard == heard { state.others = others }
            state.counts += 1
        }
    }

    /// How many counts ``recountListeners(_:)`` has made (for tests, to see one happen).
    public var listenerCounts: Int { listeners.withLock { $0.counts } }

    /// Tells the other processes that this one is present and listening (a notice with its origin and no name), so
    /// that one that found itself alone notifies again at once rather than at its next count.
    public func greet(logger: Logger) async throws {
        _ = try await withDeadline(Self.noticeLimit) {
            try await self.client.run(
                "SELECT pg_notify(\(Notices.Channel.inbox.rawValue), \(NoticePayload(origin: self.noticeOrigin, name: "").text))",
                logger: logger)
        }
    }

    /// Calls `wake` with the name of every notice on `channel`, until cancelled or shut down gracefully: at once for
    /// the transactions of this `Database` (as soon as each has committed), and through `LISTEN` for every other
    /// process's, skipping the notifications this one sent (their origin is ``noticeOrigin``), which it heard a
    /// round trip sooner. A connection that drops is replaced a second later; meanwhile other processes' notices
    /// are missed, so they are hints, never the only way work is found.
    public func listen(to channel: Notices.Channel, wake: @escaping @Sendable (String) -> Void) async {
        let hear: @Sendable (Set<String>) -> Void = { names in
            for name in names { wake(name) }
        }
        let key = localHearers.withLock { hearers in
            hearers.next += 1
            hearers.all[hearers.next] = (channel, hear)
            return hearers.next
        }
        defer { _ = localHearers.withLock { $0.all.removeValue(forKey: key) } }
        let origin = noticeOrigin
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown {
                    try await self.client.withConnection { connection in
                        try await connection.listen(on: channel.rawValue) { notifications in
                            for try await notification in notifications {
                                let notice = NoticePayload(text: notification.payload)
                                guard notice.origin != origin else { continue }
                                // A greeting (an origin and no name on the inbox channel; on the outbox channel no
                                // name means every relay) wakes no lane: it says a process that listens is present.
                                // Other notices say nothing of the kind: an intake-only process sends them too.
                                guard channel == .inbox, notice.origin != nil, notice.name.isEmpty else {
                                    wake(notice.name)
                                    continue
                                }
                                self.listeners.withLock { state in
                                    state.others = true
                                    state.heard += 1
                                }
                            }
                        }
                    }
                }
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                logger.debug("listener reconnecting", metadata: ["channel": "\(channel.rawValue)"])
            }
            await pause(.seconds(1))
        }
    }

    private func hear(_ notices: [Notices.Channel: Set<String>]) {
        let hearers = localHearers.withLock { Array($0.all.values) }
        for (channel, hear) in hearers {
            if let names = notices[channel] { hear(names) }
        }
    }
}

/// Whether other processes may be listening, how many greetings this one has heard, and how many counts it made
/// (``Database/recountListeners(_:)``).
struct OtherListeners {
    var others = true
    var heard = 0
    var counts = 0
}

/// This process's listeners of its own notices (``Database/listen(to:wake:)``).
struct LocalHearers {
    var next = 0
    var all: [Int: (channel: Notices.Channel, hear: @Sendable (Set<String>) -> Void)] = [:]
}
