import DealSyncCore
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Tracing

/// Turns inbox rows into decisions, a batch of rows per transaction.
///
/// One transaction claims up to `limit` due rows of a lane (`FOR UPDATE SKIP LOCKED`, oldest first), decodes
/// them, locks and reads every link they touch at once, decides them in memory, and writes field state, outbox
/// rows, divergence entries and every row's status set-based. A row that cannot be decoded or decided is marked
/// on its own; a row that must wait is put back on its own. If the transaction itself fails (a lost connection,
/// a deadlock, a bug), its rows are tried again one by one, so one poisonous row never holds the others back.
public struct InboxProcessor: Sendable {
    public let context: SyncContext

    public init(context: SyncContext) {
        self.context = context
    }

    public init(
        database: Database, setup: SyncSetup, logger: Logger, checkpoint: (@Sendable (String) throws -> Void)? = nil,
        observer: SyncObserver? = nil
    ) {
        self.init(context: SyncContext(database: database, setup: setup, logger: logger, checkpoint: checkpoint, observer: observer))
    }

    public typealias Decoder = @Sendable (InboxRow) throws -> DecodeOutcome

    /// What processing did to one row.
    public enum Step: Sendable, Equatable {
        case idle
        case processed(inboxID: Int64, writes: Int, entries: Int)
        case ignored(inboxID: Int64, reason: String)
        /// The row waits until its records are fetched; call ``completeFetch(inboxID:fetched:worker:)``.
        /// `trace` is the row's trace context, which the fetched records carry on.
        case fetch(inboxID: Int64, requests: [FetchRequest], lineage: UUID, trace: [String: String] = [:])
        case failed(inboxID: Int64, error: String)
        case deferred(inboxID: Int64)
    }

    /// How long a row that asked for a fetch stays claimed before it is tried again.
    static let fetchLease: Double = 60
    /// How soon a fetch whose worker is no longer present (its process died) is taken over.
    static let fetchTakeover: Double = 5
    static var maxAttempts: Int { SyncContext.maxAttempts }

    var logger: Logger { context.logger }

    /// Processes up to `limit` due rows of `connector`'s lane (every lane when `nil`) and returns what happened to
    /// each, oldest first; empty when nothing was due. `worker` names the process's presence: a fetch it starts is
    /// taken over by another process soon after this one dies, instead of after the whole fetch lease.
    ///
    /// `locked` is called (and awaited) with the number of rows claimed once the batch holds the locks of every record
    /// it decides (or decides none): a batch claimed after that point skips this one's rows and waits for its records,
    /// so it never decides one ahead of it. Lanes use it to claim their next batch while this one is still deciding
    /// and saving (a batch that found nothing calls it not at all).
    public func processBatch(
        connector: String?, limit: Int, decode: Decoder, worker: String? = nil, locked: (@Sendable (Int) async -> Void)? = nil
    ) async throws -> [Step] {
        // The batch's own span (a trace of its own, as a batch has many causes), with a child span per database
        // step; each row's decision links to it.
        // A claim that found nothing (an idle lane looking) ends neither span, so exports nothing.
        let batch = startSpan("inbox batch", context: .topLevel)
        let claiming = DatabaseSpan.start("db claim inbox rows", in: batch)
        let claimed = Atomic<Bool>(false)
        defer { if claimed.load(ordering: .relaxed) { batch.end() } }
        do {
            return try await context.database.transaction(logger: logger) { tx, notices in
                let rows = try await InboxClaims.claim(connector: connector, limit: limit, on: tx, logger: logger)
                guard !rows.isEmpty else { return Reported(steps: [], connectors: [], entries: [], spans: []) }
                claimed.store(true, ordering: .relaxed)
                claiming?.end()
                if batch.isRecording {
                    batch.attributes["dealsync.connector"] = connector ?? "*"
                    batch.attributes["dealsync.rows"] = rows.count
                }
                return try await process(rows, decode: decode, worker: worker, batch: batch, locked: locked, notices: notices, on: tx)
            }.reported(to: context.observer).committed()
        } catch let error as TransactionError where error.closureError is CancellationError {
            throw CancellationError()
        } catch let error as TransactionError {
            // The batch rolled back. Its rows are tried again one by one, so a row that breaks the transaction is
            // found and put back alone while the others go through.
            let reason = error.closureError.map { String(describing: $0) } ?? error.description
            logger.warning(
                "inbox batch failed; trying its rows one by one",
                metadata: [
                    "connector": "\(connector ?? "*")",
                    "error": "\(reason.prefix(200))",
                ])
            return try await processOneByOne(connector: connector, limit: limit, decode: decode, worker: worker)
        }
    }

    /// Processes the oldest due row of any lane (tests, and tools that go row by row). No index holds every lane's
    /// pending rows in id order (migration 12): the claim reads them all, which suits tests and tools, not a lane.
    public func processNext(decode: Decoder, worker: String? = nil) async throws -> Step {
        try await processBatch(connector: nil, limit: 1, decode: decode, worker: worker).first ?? .idle
    }

    private func processOneByOne(connector: String?, limit: Int, decode: Decoder, worker: String?) async throws -> [Step] {
        let ids = try await InboxClaims.dueIDs(connector: connector, limit: limit, database: context.database, logger: logger)
        var steps: [Step] = []
        for id in ids {
            do {
                steps += try await context.database.transaction(logger: logger) { tx, notices in
                    let rows = try await InboxClaims.claim(ids: [id], on: tx, logger: logger)
                    return try await process(rows, decode: decode, worker: worker, batch: nil, locked: nil, notices: notices, on: tx)
                }.reported(to: context.observer).committed()
            } catch let error as TransactionError {
                let reason = error.closureError.map { String(describing: $0) } ?? error.description
                try? await retry(id, error: reason)
                steps.append(.failed(inboxID: id, error: reason))
            }
        }
        return steps
    }

    /// Decodes and decides `rows` in the transaction `tx`, and records every row's status.
    private func process(
        _ rows: [InboxClaims.Row], decode: Decoder, worker: String?, batch: (any Span)?, locked: (@Sendable (Int) async -> Void)?,
        notices: Notices, on tx: PostgresConnection
    ) async throws -> Reported {
        guard !rows.isEmpty else { return Reported(steps: [], connectors: [], entries: [], spans: []) }
        // One span per row, continuing the trace stored with it (the webhook's, the poll's, the Kafka message's);
        // ended once the transaction deciding it has committed. A rolled-back batch's spans are never ended, so
        // never exported: its rows are decided again, one by one.
        let spans = rows.map { row in
            let span = startSpan("decide \(row.item.source.rawValue)", context: TraceContext.context(from: row.item.headers))
            // With tracing off (the default) spans record nothing: the attributes are not even formatted.
            if span.isRecording {
                span.attributes["dealsync.connector"] = row.item.connector
                span.attributes["dealsync.inbox_id"] = Int(row.id)
                span.attributes["dealsync.lineage_id"] = row.item.lineageID.uuidString.lowercased()
                if let batch { span.addLink(SpanLink(context: batch.context, attributes: [:])) }
            }
            return span
        }
        var statuses = InboxClaims.Statuses()
        var steps: [Int64: Step] = [:]
        var decoded: [(row: InboxClaims.Row, observations: [Observation])] = []
        for row in rows {
            let outcome: DecodeOutcome
            do {
                outcome =
                    row.item.source == .refetch
                    ? .fetch([try StoreJSON.decode(FetchRequest.self, from: String(decoding: row.item.body, as: UTF8.self))])
                    : try decode(InboxRow(id: row.id, item: row.item, attempts: row.attempts, receivedAt: row.receivedAt))
            } catch {
                statuses.finish(row.id, .failed, error: "cannot decode: \(error)")
                steps[row.id] = .failed(inboxID: row.id, error: "\(error)")
                continue
            }
            switch outcome {
            case .ignore(let reason):
                statuses.finish(row.id, .ignored, error: reason)
                steps[row.id] = .ignored(inboxID: row.id, reason: reason)
            case .fetch(let requests):
                // A fetch started this often never completed (each crash or takeover counts one): give up.
                if row.attempts + 1 >= Self.maxAttempts * 2 {
                    let reason = "gave up: its records were asked for \(row.attempts + 1) times and never arrived"
                    statuses.finish(row.id, .failed, error: reason)
                    steps[row.id] = .failed(inboxID: row.id, error: reason)
                } else {
                    statuses.fetching.append(row.id)
                    steps[row.id] = .fetch(
                        inboxID: row.id, requests: requests, lineage: row.item.lineageID,
                        trace: row.item.headers.filter { $0.key == "traceparent" || $0.key == "tracestate" })
                }
            case .observations(let observations):
                decoded.append((row, observations))
            }
        }
        var entries: [(String, DivergenceEntry.Kind)] = []
        var written: DecisionRecords.Statuses {
            DecisionRecords.Statuses(statuses: statuses, fetchLease: Self.fetchLease, worker: worker, maxAttempts: Self.maxAttempts * 2)
        }
        if decoded.isEmpty { await locked?(rows.count) }
        if !decoded.isEmpty {
            var keys = LinkBookRecords.Keys()
            var reserve = 0
            for (_, observations) in decoded {
                for observation in observations {
                    keys.add(observation)
                    reserve += context.planner.policy.linksItMayCreate(observation)
                }
            }
            var session = try await DatabaseSpan.run("db lock and load links", in: batch) {
                try await DecisionSession.open(context, keys: keys, reserve: reserve, on: tx)
            }
            await locked?(rows.count)
            let spanOfRow = Dictionary(uniqueKeysWithValues: zip(rows.map(\.id), spans))
            for (row, observations) in decoded {
                if let span = spanOfRow[row.id], span.isRecording, let first = observations.first {
                    // Ids only, never field values: the record, and the deal when the observation names it.
                    span.attributes["dealsync.record_id"] = first.recordID
                    if let deal = first.side == .master ? first.recordID : first.linkedMasterID {
                        span.attributes["dealsync.master_deal_id"] = deal
                    }
                }
                switch session.decide(
                    observations, cause: "inbox:\(row.id)", lineage: row.item.lineageID, inboxID: row.id,
                    attempts: row.attempts)
                {
                case .decided(let writes, let logged):
                    if let span = spanOfRow[row.id], span.isRecording {
                        span.attributes["dealsync.writes"] = writes
                        let rules = Set(logged.compactMap { entry in entry.rule.map { "\(entry.kind.rawValue) \($0)" } })
                        if !rules.isEmpty { span.attributes["dealsync.rules"] = rules.sorted().joined(separator: ", ") }
                    }
                    statuses.finish(row.id, .processed, error: nil)
                    steps[row.id] = .processed(inboxID: row.id, writes: writes, entries: logged.count)
                    entries += logged.map { ($0.connector, $0.kind) }
                case .waited(let reason):
                    statuses.retry(row.id, error: reason, delaySeconds: 1)
                    steps[row.id] = .deferred(inboxID: row.id)
                case .failed(let reason):
                    statuses.finish(row.id, .failed, error: reason)
                    steps[row.id] = .failed(inboxID: row.id, error: reason)
                }
            }
            // The rows' statuses go with the decisions, in the same statement.
            _ = try await DatabaseSpan.run("db save decisions", in: batch) {
                try await session.save(notices: notices, statuses: written)
            }
        } else {
            try await DatabaseSpan.run("db write row statuses", in: batch) {
                try await DecisionRecords.write(links: .init(), rows: .init(), statuses: written, on: tx, logger: logger)
            }
        }
        try context.check("before-commit")
        let ordered = rows.compactMap { steps[$0.id] }
        for (row, span) in zip(rows, spans) { span.attributes["dealsync.outcome"] = steps[row.id]?.name ?? "none" }
        return Reported(steps: ordered, connectors: rows.map(\.item.connector), entries: entries, spans: spans)
    }

    /// The steps of a committed transaction, told to the observer once the commit is done.
    struct Reported {
        var steps: [Step]
        var connectors: [String]
        var entries: [(String, DivergenceEntry.Kind)]
        var spans: [any Span]
    }
}

extension InboxProcessor.Step {
    /// The step's kind, as traces name it.
    var name: String {
        switch self {
        case .idle: "idle"
        case .processed: "processed"
        case .ignored: "ignored"
        case .failed: "failed"
        case .fetch: "fetch"
        case .deferred: "deferred"
        }
    }
}

extension InboxProcessor.Reported {
    func reported(to observer: SyncObserver?) -> Self {
        if let observer {
            for (step, connector) in zip(steps, connectors) {
                switch step {
                case .processed: observer.processed(connector, "processed")
                case .ignored: observer.processed(connector, "ignored")
                case .failed: observer.processed(connector, "failed")
                case .fetch: observer.processed(connector, "fetch")
                case .idle, .deferred: break
                }
            }
            for (connector, kind) in entries { observer.divergence(connector, kind) }
        }
        return self
    }

    /// Ends the rows' spans (the transaction committed) and answers the steps.
    func committed() -> [InboxProcessor.Step] {
        for span in spans { span.end() }
        return steps
    }
}
