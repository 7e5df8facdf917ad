import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// Support's replay of a dead letter: re-decided against the current state, so a stale value never overwrites a
/// newer one, and recorded in the audit log.
public struct DeadLetterReplay: Sendable {
    public let context: SyncContext

    public init(context: SyncContext) {
        self.context = context
    }

    var database: Database { context.database }
    var setup: SyncSetup { context.setup }
    var logger: Logger { context.logger }

    /// What replaying one dead letter did (or, in a dry run, would do).
    public enum ReplayResult: Sendable, Equatable {
        /// Re-enqueued as it was, under its original idempotency key.
        case requeued(outboxID: Int64)
        /// Values changed since it failed: the current decided values are enqueued instead, under a new key.
        case requeuedCurrent(outboxID: Int64?, changed: [String])
        /// The target already holds the decided values: nothing to send.
        case alreadyInSync
        case refused(String)
    }

    /// A dead letter is replayed at most this many times; then it must be dropped or fixed at its source.
    public static let maxReplays = 5

    /// Re-enqueues a dead letter, re-deciding against the current state so a stale value never overwrites a
    /// newer one. Recorded in the audit log. A dry run computes the result and changes nothing.
    public func replay(_ deadLetterID: Int64, actor: String, dryRun: Bool) async throws -> ReplayResult {
        do {
            return try await database.client.checkedTransaction(logger: logger) { tx -> ReplayResult in
                let result = try await replay(deadLetterID, actor: actor, on: tx)
                // A dry run rolls everything back and only reports.
                if dryRun { throw DryRun(result: result) }
                return result
            }
        } catch let error as TransactionError {
            if let dry = error.closureError as? DryRun { return dry.result }
            throw error
        }
    }

    private struct DryRun: Error {
        var result: ReplayResult
    }

    private func replay(_ id: Int64, actor: String, on tx: PostgresConnection) async throws -> ReplayResult {
        let rows = try await tx.query(
            """
            SELECT d.status, d.replay_count, o.id, o.target, o.link_id, o.operation, o.payload::text, o.idempotency_key, o.lineage_id, o.record_key
            FROM dead_letters d JOIN outbox o ON o.id = d.outbox_id WHERE d.id = \(id) FOR UPDATE OF d, o
            """, logger: logger)
        var found: (String, Int, Int64, String, Int64?, String, String, String, UUID, String)?
        for try await row in rows.decode((String, Int, Int64, String, Int64?, String, String, String, UUID, String).self) { found = row }
        guard let (status, replays, outboxID, target, linkID, operation, payloadText, key, lineage, recordKey) = found else {
            return .refused("no dead letter \(id)")
        }
        guard status == "open" else { return .refused("dead letter \(id) is already \(status)") }
        guard replays < Self.maxReplays else {
            return .refused("dead letter \(id) was replayed \(replays) times already; drop it or fix its cause")
        }
        let payload = try OutboxPayload(jsonText: payloadText)
        if payload.decided != nil {
            // An event of the decision feed tells what was decided then: published again as it is.
            try await requeue(outboxID, on: tx)
            try await finishReplay(id, actor: actor, outboxID: outboxID, changed: [], key: key, on: tx)
            return .requeued(outboxID: outboxID)
        }
        let original = payload.values
        guard let linkID, let row = try await LinkRecords.byID(linkID, on: tx, logger: logger), let lane = setup.lane(row.connector) else {
            return .refused("the link of dead letter \(id) no longer exists")
        }
        guard row.active else { return .refused("the link of dead letter \(id) has ended") }
        let side: Side = target == setup.masterConnector ? .master : .crm
        var snapshot = try await LinkRecords.snapshot(row, on: tx, logger: logger)
        let previous = snapshot.fields

        // Re-decide every mapped value in the payload against the current decided value.
        var current = original
        var changed: [String] = []
        var stillNeeded = operation == "create"
        for field in lane.mapping.fields {
            let transformer = FieldTransformer(field: field, mapping: lane.mapping)
            let key = transformer.key(on: side)
            guard let sent = original[key], let state = snapshot.fields[field.name], let decided = state.decided,
                case .success(let now) = transformer.project(decided, to: side)
            else { continue }
            if now != sent {
                current[key] = now
                changed.append(field.name)
            }
            let held = state[side].known.map { transformer.agrees($0, on: side, with: decided) } ?? false
            if !held { stillNeeded = true }
        }
        guard stillNeeded else {
            try await resolve(id, actor: actor, note: "the target already holds the decided values", on: tx)
            return .alreadyInSync
        }
        let engineByKey = Dictionary(
            lane.mapping.fields.map { (FieldTransformer(field: $0, mapping: lane.mapping).key(on: side), $0.name) },
            uniquingKeysWith: { first, _ in first })
        var newKey = key
        var newOutboxID: Int64? = outboxID
        if changed.isEmpty {
            try await requeue(outboxID, on: tx)
        } else {
            newKey = IdempotencyKey.make(
                target: target, record: recordKey, operation: operation, values: current,
                cause: "replay:\(id):\(replays + 1)")
            try await tx.query("UPDATE outbox SET status = 'superseded', updated_at = now() WHERE id = \(outboxID)", logger: logger)
            let write = RecordDecision.Write(
                side: side, operation: RecordDecision.Operation(rawValue: operation) ?? .update,
                values: current, fields: [:], recordKey: recordKey, idempotencyKey: newKey)
            try await OutboxRecords.insert(
                write, target: target, lane: row.connector, link: row.id, masterDealID: row.masterDealID, lineage: lineage,
                inboxID: nil, on: tx, logger: logger)
            let inserted = try await tx.query("SELECT id FROM outbox WHERE idempotency_key = \(newKey)", logger: logger)
            newOutboxID = nil
            for try await id in inserted.decode(Int64.self) { newOutboxID = id }
            try await tx.query("UPDATE outbox SET replay_count = \(replays + 1) WHERE idempotency_key = \(newKey)", logger: logger)
        }
        // The field state expects these values again.
        for (recordKey, value) in current {
            guard let name = engineByKey[recordKey], var state = snapshot.fields[name] else { continue }
            state[side].pending.append(PendingWrite(value: value, key: newKey))
            snapshot.fields[name] = state
        }
        try await LinkRecords.saveFieldStates(link: row.id, snapshot.fields, previous: previous, on: tx, logger: logger)
        try await finishReplay(id, actor: actor, outboxID: newOutboxID, changed: changed, key: newKey, on: tx)
        return changed.isEmpty ? .requeued(outboxID: outboxID) : .requeuedCurrent(outboxID: newOutboxID, changed: changed)
    }

    /// The dead row is pending again, its attempts counted afresh.
    private func requeue(_ outboxID: Int64, on tx: PostgresConnection) async throws {
        try await tx.query(
            """
            UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = now(), claimed_by = NULL,
                claimed_until = NULL, replay_count = replay_count + 1, updated_at = now()
            WHERE id = \(outboxID)
            """, logger: logger)
    }

    /// The dead letter is replayed: marked, audited, and every relay hinted.
    private func finishReplay(
        _ id: Int64, actor: String, outboxID: Int64?, changed: [String], key: String, on tx: PostgresConnection
    ) async throws {
        try await tx.query(
            """
            UPDATE dead_letters SET status = 'replayed', replay_count = replay_count + 1, resolved_at = now(),
                resolved_by = \(actor), resolution_reason = \(changed.isEmpty ? "replayed" : "replayed with current values")
            WHERE id = \(id)
            """, logger: logger)
        try await AuditRecords.insert(
            actor: actor, action: "dlq.replay", target: "dead_letter:\(id)", reason: nil,
            details: ["outbox_id": "\(outboxID ?? 0)", "changed_fields": changed.joined(separator: ","), "idempotency_key": key],
            on: tx, logger: logger)
        // Every relay is hinted (an empty payload): the replayed write's target may differ from the dead letter's
        // once current values are re-decided, and a replay is rare.
        try await tx.run("SELECT pg_notify('dealsync_outbox', '')", logger: logger)
    }

    private func resolve(_ id: Int64, actor: String, note: String, on tx: PostgresConnection) async throws {
        try await tx.query(
            """
            UPDATE dead_letters SET status = 'replayed', replay_count = replay_count + 1, resolved_at = now(),
                resolved_by = \(actor), resolution_reason = \(note) WHERE id = \(id)
            """, logger: logger)
        try await AuditRecords.insert(
            actor: actor, action: "dlq.replay", target: "dead_letter:\(id)", reason: note, details: [:],
            on: tx, logger: logger)
    }
}
