import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// Delivery results, each committed in one transaction with what it means for the link's state.
extension SyncProcessor {
    /// The target confirmed a group: the rows are done, a create's new id joins the link, the field state learns
    /// the write landed (and when), and whatever that implies is enqueued.
    ///
    /// Every outcome is recorded only while the group is still the relay's claim (see ``stillClaimed(_:on:)``);
    /// each returns whether it was.
    @discardableResult
    public func delivered(_ group: WriteGroup, recordID: String, landedAt: SourceStamp?, attempt: AttemptRecord) async throws -> Bool {
        try await database.client.withTransaction(logger: logger) { tx in
            guard try await stillClaimed(group, on: tx) else { return false }
            try await Self.markDone(group.ids, attempt: attempt, on: tx, logger: logger)
            guard let linkID = group.head.linkID, var row = try await LinkRecords.byID(linkID, on: tx, logger: logger),
                let lane = setup.lane(row.connector)
            else { return true }
            let side: Side = group.head.target == setup.masterConnector ? .master : .crm
            if group.head.operation == .create {
                if side == .crm, row.recordID == nil { row.recordID = recordID }
                if side == .master, row.masterDealID == nil { row.masterDealID = recordID }
            }
            if side == .master, let version = landedAt?.version, version > (row.masterVersion ?? 0) { row.masterVersion = version }
            var snapshot = try await LinkRecords.snapshot(row, on: tx, logger: logger)
            let previous = snapshot.fields
            var combined = RecordDecision(fields: snapshot.fields)
            // Coalesced writes went as one request: the side holds the merged values, later writes winning.
            let landedValues = group.delivery.values
            for write in group.writes {
                let decision = lane.decider.confirmed(key: write.idempotencyKey, on: side, landedAt: landedAt, values: landedValues,
                                                      link: snapshot, cause: "confirm:\(write.id)")
                snapshot.fields = decision.fields
                combined.fields = decision.fields
                combined.writes += decision.writes
                combined.entries += decision.entries
            }
            if group.head.operation == .create, side == .master {
                try await Self.retargetMasterWrites(link: row.id, masterID: recordID, on: tx, logger: logger)
                // The CRM record learns its deal: master_deal_id goes into the mapping's link field.
                let values: [String: FieldValue] = [lane.mapping.linkField: .text(recordID)]
                let recordKey = snapshot.recordKey(for: .crm)
                combined.writes.append(.init(
                    side: .crm, operation: .update, values: values, fields: [:], recordKey: recordKey,
                    idempotencyKey: IdempotencyKey.make(target: lane.connector, record: recordKey, operation: "update",
                                                        values: values, cause: "link:\(row.id)")))
            }
            let context = ObservationContext(tx: tx, inboxID: 0, cause: "confirm:\(group.head.id)", lineage: group.head.lineageID, attempts: 0)
            _ = try await commit(combined, lane: lane, row: row, previous: previous, context, inboxID: nil)
            return true
        }
    }

    /// A failure worth retrying: the rows go back to pending until `nextAttempt`.
    @discardableResult
    public func retry(_ group: WriteGroup, at nextAttempt: Date, attempt: AttemptRecord) async throws -> Bool {
        let entry = try StoreJSON.encode([attempt])
        return try await database.client.withTransaction(logger: logger) { tx in
            guard try await stillClaimed(group, on: tx) else { return false }
            try await tx.query(
                """
                UPDATE outbox SET status = 'pending', attempts = attempts + 1, next_attempt_at = \(nextAttempt),
                    claimed_by = NULL, claimed_until = NULL, attempt_log = attempt_log || \(entry)::jsonb, updated_at = now()
                WHERE id = ANY(\(group.ids))
                """, logger: logger)
            return true
        }
    }

    /// A failure for good (or out of attempts): each row moves to the dead letters with its whole history, and
    /// the field state forgets the writes that will never land.
    @discardableResult
    public func deadLetter(_ group: WriteGroup, errorClass: ErrorClass, attempt: AttemptRecord) async throws -> Bool {
        let entry = try StoreJSON.encode([attempt])
        return try await database.client.withTransaction(logger: logger) { tx in
            guard try await stillClaimed(group, on: tx) else { return false }
            try await tx.query(
                """
                UPDATE outbox SET status = 'dead', attempts = attempts + 1, claimed_by = NULL, claimed_until = NULL,
                    attempt_log = attempt_log || \(entry)::jsonb, updated_at = now()
                WHERE id = ANY(\(group.ids))
                """, logger: logger)
            try await tx.query(
                """
                INSERT INTO dead_letters (outbox_id, connector, record_key, master_deal_id, operation, payload,
                    idempotency_key, lineage_id, error_class, last_error, attempts, replay_count)
                SELECT id, target, record_key, master_deal_id, operation, payload, idempotency_key, lineage_id,
                    \(errorClass.rawValue), \(attempt.detail), attempt_log, replay_count
                FROM outbox WHERE id = ANY(\(group.ids))
                """, logger: logger)
            try await abandon(group, on: tx)
            return true
        }
    }

    /// MasterDeal answered 412: the record moved on after the version the writes were based on. The rows are
    /// superseded, and the deal as it is now is decided at once by ``RecordDecider/refused(keys:on:current:link:cause:)``:
    /// what MasterDeal really changed is weighed by the field rules instead of being overwritten, and every decided
    /// value the refused writes carried is written again, on the new version.
    @discardableResult
    public func superseded(_ group: WriteGroup, refetched: InboxItem?, observations: [Observation]) async throws -> Bool {
        try await database.client.withTransaction(logger: logger) { tx in
            guard try await stillClaimed(group, on: tx) else { return false }
            try await tx.query(
                "UPDATE outbox SET status = 'superseded', claimed_by = NULL, claimed_until = NULL, updated_at = now() WHERE id = ANY(\(group.ids))",
                logger: logger)
            guard let linkID = group.head.linkID, let row = try await LinkRecords.byID(linkID, on: tx, logger: logger),
                let lane = setup.lane(row.connector)
            else { return true }
            let side: Side = group.head.target == setup.masterConnector ? .master : .crm
            let refusal = Refusal(linkID: linkID, side: side, keys: group.writes.map(\.idempotencyKey))
            var inboxID: Int64 = 0
            if let refetched {
                let rows = try await tx.query(
                    """
                    INSERT INTO inbox (connector, dedupe_key, source, headers, content_type, body, lineage_id, status, processed_at)
                    VALUES (\(refetched.connector), \(refetched.dedupeKey), 'refetch', '{}'::jsonb, \(refetched.contentType),
                        \(refetched.body), \(group.head.lineageID), 'processed', now())
                    ON CONFLICT (connector, dedupe_key) DO NOTHING RETURNING id
                    """, logger: logger)
                for try await id in rows.decode(Int64.self) { inboxID = id }
            }
            // The record as it is now, for this link and every other link of the same deal.
            let current = observations.filter { side == .master && $0.side == .master && $0.recordID == row.masterDealID }
            for (index, observation) in current.enumerated() {
                var context = ObservationContext(tx: tx, inboxID: inboxID, cause: "stale:\(group.head.id):\(index)",
                                                 lineage: group.head.lineageID, attempts: Self.maxAttempts)
                context.refusal = refusal
                _ = try await process(observation, context)
            }
            if current.isEmpty {
                // The deal could not be read again: forget the refused writes and write the decided values again.
                let snapshot = try await LinkRecords.snapshot(row, on: tx, logger: logger)
                let decision = lane.decider.refused(keys: refusal.keys, on: side, current: nil, link: snapshot,
                                                    cause: "stale:\(group.head.id)")
                let context = ObservationContext(tx: tx, inboxID: 0, cause: "stale:\(group.head.id)", lineage: group.head.lineageID, attempts: 0)
                _ = try await commit(decision, lane: lane, row: row, previous: snapshot.fields, context, inboxID: nil)
            }
            return true
        }
    }

    /// Locks the group's rows and tells whether they are still the claim the relay made: in flight, claimed by
    /// the same worker, in the same claim (every claim increases `claim_seq`). A process that outlived its lease
    /// finds its writes taken over, and its outcome is not recorded: the new claim's will be.
    func stillClaimed(_ group: WriteGroup, on tx: PostgresConnection) async throws -> Bool {
        let rows = try await tx.query(
            "SELECT id, claim_seq, claimed_by FROM outbox WHERE id = ANY(\(group.ids)) AND status = 'in_flight' ORDER BY id FOR UPDATE",
            logger: logger)
        var current: [Int64: (sequence: Int64, worker: String?)] = [:]
        for try await (id, sequence, worker) in rows.decode((Int64, Int64, String?).self) { current[id] = (sequence, worker) }
        let held = group.writes.allSatisfy { write in
            current[write.id].map { $0.sequence == write.claimSequence && $0.worker == write.claimedBy } ?? false
        }
        if !held {
            logger.warning("outcome not recorded: the writes were taken over after this claim's lease ran out", metadata: [
                "target": "\(group.head.target)", "outbox_ids": "\(group.ids)", "worker": "\(group.head.claimedBy ?? "-")",
                "lineage_id": "\(group.head.lineageID.uuidString.lowercased())",
            ])
        }
        return held
    }

    func abandon(_ group: WriteGroup, on tx: PostgresConnection) async throws {
        guard let linkID = group.head.linkID, let row = try await LinkRecords.byID(linkID, on: tx, logger: logger),
            let lane = setup.lane(row.connector)
        else { return }
        let side: Side = group.head.target == setup.masterConnector ? .master : .crm
        var snapshot = try await LinkRecords.snapshot(row, on: tx, logger: logger)
        let previous = snapshot.fields
        for write in group.writes {
            snapshot.fields = lane.decider.abandoned(key: write.idempotencyKey, on: side, link: snapshot)
        }
        try await LinkRecords.saveFieldStates(link: row.id, snapshot.fields, previous: previous, on: tx, logger: logger)
    }

    static func markDone(_ ids: [Int64], attempt: AttemptRecord, on tx: PostgresConnection, logger: Logger) async throws {
        let entry = try StoreJSON.encode([attempt])
        try await tx.query(
            """
            UPDATE outbox SET status = 'done', attempts = attempts + 1, done_at = now(), claimed_by = NULL,
                claimed_until = NULL, attempt_log = attempt_log || \(entry)::jsonb, updated_at = now()
            WHERE id = ANY(\(ids))
            """, logger: logger)
    }

    /// Writes queued for a MasterDeal deal before it existed were keyed by the link; now they follow the deal.
    static func retargetMasterWrites(link: Int64, masterID: String, on tx: PostgresConnection, logger: Logger) async throws {
        try await tx.query(
            "UPDATE outbox SET master_deal_id = \(masterID) WHERE link_id = \(link) AND master_deal_id IS NULL",
            logger: logger)
    }
}
