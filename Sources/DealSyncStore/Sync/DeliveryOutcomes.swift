import DealSyncCore
import Foundation
import Logging
import PostgresNIO
import Tracing

/// Records what a target answered to a group of writes, each outcome in one transaction with what it means for
/// the link: a confirmation teaches the field state when the write landed, a dead letter makes it forget the
/// writes, a refusal (MasterDeal's 412) re-decides the link on the record as it is now.
///
/// Every outcome is recorded only while the group is still the relay's claim (see ``stillClaimed(_:on:)``); each
/// returns whether it was.
public struct DeliveryOutcomes: Sendable {
    public let context: SyncContext

    public init(context: SyncContext) {
        self.context = context
    }

    var logger: Logger { context.logger }

    /// What a target answered to one group, as the relay records it.
    public enum Outcome: Sendable {
        /// Done: the record's id (a create's new one) and when the write landed, in the target's clock.
        case delivered(recordID: String, landedAt: SourceStamp?, attempt: AttemptRecord)
        /// Worth another try at `at`.
        case retry(at: Date, attempt: AttemptRecord)
        /// Failed for good (or out of attempts): a dead letter.
        case deadLetter(ErrorClass, attempt: AttemptRecord)
    }

    /// Records a relay round's outcomes in one transaction, set-based: the rows' statuses and attempt logs, the
    /// dead letters, and what each confirmation or dead letter means for its link's field state, all written by
    /// the statement that saves the decisions (``DeliveryRecords``). Returns, per group, whether it was still the
    /// relay's claim (only then is its outcome recorded).
    public func record(_ round: [(group: WriteGroup, outcome: Outcome)]) async throws -> [Bool] {
        guard !round.isEmpty else { return [] }
        // One span for the round's transaction, in the trace of its first traced write and linked to the others',
        // with a child span per database step.
        let traced = round.compactMap(\.group.head.traceParent)
        let span = startSpan("record \(round.count) outcomes", context: TraceContext.context(traceParent: traced.first))
        defer { span.end() }
        if span.isRecording {
            span.attributes["dealsync.target"] = round[0].group.head.target
            for parent in traced.dropFirst() { span.addLink(SpanLink(context: TraceContext.context(traceParent: parent), attributes: [:])) }
        }
        return try await context.database.transaction(logger: logger) { tx, notices in
            let (held, names) = try await DatabaseSpan.run("db check claims", in: span) {
                try await claims(round.map(\.group), on: tx)
            }
            let kept = zip(round, held).filter(\.1).map(\.0)
            var records = try DeliveryRecords(kept, masterTarget: context.setup.masterConnector)
            let linkIDs = kept.compactMap { entry -> Int64? in
                if case .retry = entry.outcome { return nil }
                return entry.group.head.linkID
            }
            // The links are locked and loaded only when an outcome teaches their field state something; confirming
            // and abandoning writes decide nothing about linking, so onboarding's holds are not read.
            var session = try await DatabaseSpan.run("db lock and load links", in: span) {
                try await DecisionSession.open(context, keys: names.keys(ofLinks: linkIDs), reserve: 0, holds: false, on: tx)
            }
            for (group, outcome) in kept {
                guard let linkID = group.head.linkID, let lane = session.book[linkID].flatMap({ context.setup.lane($0.connector) }) else {
                    continue
                }
                let side = context.side(of: group.head.target)
                switch outcome {
                case .delivered(let recordID, let landedAt, _):
                    if confirm(group, recordID: recordID, landedAt: landedAt, lane: lane, side: side, in: &session) {
                        records.retarget(link: linkID, to: recordID)
                    }
                case .deadLetter:
                    for write in group.writes {
                        guard let snapshot = session.book[linkID]?.snapshot else { break }
                        let fields = lane.decider.abandoned(key: write.idempotencyKey, on: side, link: snapshot)
                        session.update(link: linkID) { $0.fields = fields }
                    }
                case .retry:
                    break
                }
            }
            _ = try await DatabaseSpan.run("db save decisions", in: span) { try await session.save(notices: notices, outcomes: records) }
            return held
        }
    }

    /// The target confirmed `group`: a create's new id joins the link, the field state learns the write landed
    /// (and when), and whatever that implies is enqueued. Returns whether the link learnt its MasterDeal deal (the
    /// writes queued for it before must now follow the deal).
    private func confirm(
        _ group: WriteGroup, recordID: String, landedAt: SourceStamp?, lane: SyncSetup.Lane, side: Side,
        in session: inout DecisionSession
    ) -> Bool {
        guard let linkID = group.head.linkID else { return false }
        let created = group.head.operation == .create
        session.update(link: linkID) { link in
            if created, side == .crm, link.recordID == nil { link.recordID = recordID }
            if created, side == .master, link.masterDealID == nil { link.masterDealID = recordID }
            if side == .master, let version = landedAt?.version, version > (link.masterVersion ?? 0) { link.masterVersion = version }
        }
        // Coalesced writes went as one request: the side holds the merged values, later writes winning.
        let landedValues = group.delivery.values
        for write in group.writes {
            guard let snapshot = session.book[linkID]?.snapshot else { break }
            let decision = lane.decider.confirmed(
                key: write.idempotencyKey, on: side, landedAt: landedAt, values: landedValues,
                link: snapshot, cause: "confirm:\(write.id)")
            _ = session.commit(decision, link: linkID, lineage: group.head.lineageID)
        }
        guard created, side == .master, let snapshot = session.book[linkID]?.snapshot else { return false }
        // The CRM record learns its deal: master_deal_id goes into the mapping's link field.
        let values: [String: FieldValue] = [lane.mapping.linkField: .text(recordID)]
        let recordKey = snapshot.recordKey(for: .crm)
        session.add(
            .init(
                side: .crm, operation: .update, values: values, fields: [:], recordKey: recordKey,
                idempotencyKey: IdempotencyKey.make(
                    target: lane.connector, record: recordKey, operation: "update",
                    values: values, cause: "link:\(linkID)")),
            link: linkID, target: lane.connector, lineage: group.head.lineageID)
        return true
    }

    @discardableResult
    public func delivered(_ group: WriteGroup, recordID: String, landedAt: SourceStamp?, attempt: AttemptRecord) async throws -> Bool {
        try await record([(group, .delivered(recordID: recordID, landedAt: landedAt, attempt: attempt))]).first ?? false
    }

    @discardableResult
    public func retry(_ group: WriteGroup, at nextAttempt: Date, attempt: AttemptRecord) async throws -> Bool {
        try await record([(group, .retry(at: nextAttempt, attempt: attempt))]).first ?? false
    }

    @discardableResult
    public func deadLetter(_ group: WriteGroup, errorClass: ErrorClass, attempt: AttemptRecord) async throws -> Bool {
        try await record([(group, .deadLetter(errorClass, attempt: attempt))]).first ?? false
    }

    /// MasterDeal answered 412: the record moved on after the version the writes were based on. The rows are
    /// superseded, and the deal as it is now is decided at once by ``RecordDecider/refused(keys:on:current:link:cause:)``:
    /// what MasterDeal really changed is weighed by the field rules instead of being overwritten, and every decided
    /// value the refused writes carried is written again, on the new version.
    @discardableResult
    public func superseded(_ group: WriteGroup, refetched: InboxItem?, observations: [Observation]) async throws -> Bool {
        try await context.database.transaction(logger: logger) { tx, notices in
            guard try await stillClaimed(group, on: tx) else { return false }
            try await tx.query(
                "UPDATE outbox SET status = 'superseded', claimed_by = NULL, claimed_until = NULL, updated_at = now() WHERE id = ANY(\(group.ids))",
                logger: logger)
            guard let linkID = group.head.linkID, let names = try await Self.names(ofLink: linkID, on: tx, logger: logger) else {
                return true
            }
            let side = context.side(of: group.head.target)
            let refusal = SyncPlanner.Refusal(linkID: linkID, side: side, keys: group.writes.map(\.idempotencyKey))
            // The record as it is now, for this link and every other link of the same deal.
            let current = observations.filter { side == .master && $0.side == .master && $0.recordID == names.masterDealID }
            var keys = names.keys
            for observation in current { keys.add(observation) }
            var session = try await DecisionSession.open(context, keys: keys, reserve: current.count * context.setup.lanes.count, on: tx)
            var inboxID: Int64?
            if let refetched {
                inboxID = try await Self.storeRefetched(refetched, lineage: group.head.lineageID, on: tx, logger: logger)
            }
            if current.isEmpty {
                // The deal could not be read again: forget the refused writes and write the decided values again.
                if let link = session.book[linkID], let lane = context.setup.lane(link.connector) {
                    let decision = lane.decider.refused(
                        keys: refusal.keys, on: side, current: nil, link: link.snapshot,
                        cause: "stale:\(group.head.id)")
                    _ = session.commit(decision, link: linkID, lineage: group.head.lineageID)
                }
            } else {
                _ = session.decide(
                    current, cause: "stale:\(group.head.id)", lineage: group.head.lineageID, inboxID: inboxID,
                    attempts: SyncContext.maxAttempts, refusal: refusal)
            }
            try await session.save(notices: notices)
            return true
        }
    }

    /// Locks the groups' rows and tells, per group, whether they are still the claim the relay made: in flight,
    /// claimed by the same worker, in the same claim (every claim increases `claim_seq`). A process that outlived
    /// its lease finds its writes taken over, and its outcome is not recorded: the new claim's will be.
    func stillClaimed(_ groups: [WriteGroup], on tx: PostgresConnection) async throws -> [Bool] {
        try await claims(groups, on: tx).held
    }

    /// ``stillClaimed(_:on:)``, with the deal and record of each write's link, read in the same statement (the
    /// keys of the links whose outcomes a round decides; the links are locked later, by the decision session).
    func claims(_ groups: [WriteGroup], on tx: PostgresConnection) async throws -> (held: [Bool], links: LinkNamesByID) {
        let rows = try await tx.query(Claims.self, Self.claimsQuery(groups.flatMap(\.ids)), logger: logger)
        var current: [Int64: (sequence: Int64, worker: String?)] = [:]
        var links = LinkNamesByID()
        for try await (id, sequence, worker, link, connector, master, record) in rows.decode(
            (Int64, Int64, String?, Int64?, String?, String?, String?).self)
        {
            current[id] = (sequence, worker)
            if let link, let connector { links.names[link] = (connector, master, record) }
        }
        let held = groups.map { group in
            let held = group.writes.allSatisfy { write in
                current[write.id].map { $0.sequence == write.claimSequence && $0.worker == write.claimedBy } ?? false
            }
            if !held {
                logger.warning(
                    "outcome not recorded: the writes were taken over after this claim's lease ran out",
                    metadata: [
                        "target": "\(group.head.target)", "outbox_ids": "\(group.ids)", "worker": "\(group.head.claimedBy ?? "-")",
                        "lineage_id": "\(group.head.lineageID.uuidString.lowercased())",
                    ])
            }
            return held
        }
        return (held, links)
    }

    /// Locks the writes `ids` still in flight, each with its link's keys (``StatusByID``: through the primary key, not
    /// all of `outbox_open`).
    package static func claimsQuery(_ ids: [Int64]) -> PostgresQuery {
        """
        SELECT o.id, o.claim_seq, o.claimed_by, l.id, l.connector, l.master_deal_id, l.record_id
        FROM outbox o LEFT JOIN links l ON l.id = o.link_id
        WHERE o.id = ANY(\(ids)) AND \(unescaped: StatusByID.is("in_flight", column: "o.status")) ORDER BY o.id FOR UPDATE OF o
        """
    }

    enum Claims: KeptStatement {
        static let name = "dealsync_round_claims"
        static let sql = claimsQuery([]).sql
    }

    func stillClaimed(_ group: WriteGroup, on tx: PostgresConnection) async throws -> Bool {
        try await stillClaimed([group], on: tx).first ?? false
    }

    /// A link's deal and record, as the keys a decision session locks and loads.
    struct LinkNames {
        var keys: LinkBookRecords.Keys
        var masterDealID: String?
    }

    static func names(ofLink id: Int64, on tx: PostgresConnection, logger: Logger) async throws -> LinkNames? {
        let rows = try await tx.query("SELECT connector, master_deal_id, record_id FROM links WHERE id = \(id)", logger: logger)
        for try await (connector, master, record) in rows.decode((String, String?, String?).self) {
            var keys = LinkBookRecords.Keys()
            keys.linkIDs.insert(id)
            if let master { keys.deals.insert(master) }
            if let record { keys.records.insert(.init(connector: connector, recordID: record)) }
            return LinkNames(keys: keys, masterDealID: master)
        }
        return nil
    }

    /// The connector, deal and record of links, by id.
    struct LinkNamesByID {
        var names: [Int64: (connector: String, master: String?, record: String?)] = [:]

        /// The keys of links `ids` (their deals and records) that a decision session locks and loads.
        func keys(ofLinks ids: [Int64]) -> LinkBookRecords.Keys {
            var keys = LinkBookRecords.Keys()
            for id in ids {
                guard let (connector, master, record) = names[id] else { continue }
                keys.linkIDs.insert(id)
                if let master { keys.deals.insert(master) }
                if let record { keys.records.insert(.init(connector: connector, recordID: record)) }
            }
            return keys
        }
    }

    /// The refetched deal is kept in the inbox as processed (it is decided right here), for `explain` and history.
    private static func storeRefetched(_ item: InboxItem, lineage: UUID, on tx: PostgresConnection, logger: Logger) async throws -> Int64? {
        let rows = try await tx.query(
            """
            INSERT INTO inbox (connector, dedupe_key, source, headers, content_type, body, lineage_id, status, processed_at)
            VALUES (\(item.connector), \(item.dedupeKey), 'refetch', '{}'::jsonb, \(item.contentType), \(item.body), \(lineage),
                'processed', now())
            ON CONFLICT (connector, dedupe_key) DO NOTHING RETURNING id
            """, logger: logger)
        for try await id in rows.decode(Int64.self) { return id }
        return nil
    }
}
