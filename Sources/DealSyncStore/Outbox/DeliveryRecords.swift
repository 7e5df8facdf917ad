import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// The outbox side of a relay round's outcomes, set-based: one statement per kind of outcome.
enum DeliveryRecords {
    /// Records `round`. A create delivered to `masterTarget` names its new deal in the same update that marks it
    /// done (every later write of the deal follows it, see ``DeliveryOutcomes/retargetStatement(_:)``): one row
    /// version and one statement fewer than naming it afterwards.
    static func record(
        _ round: [(group: WriteGroup, outcome: DeliveryOutcomes.Outcome)], masterTarget: String, on tx: PostgresConnection,
        logger: Logger
    ) async throws {
        var done = (ids: [Int64](), entries: [String](), deals: [String]())
        var retried = (ids: [Int64](), at: [Date](), entries: [String]())
        var dead = (ids: [Int64](), entries: [String](), classes: [String](), details: [String]())
        for (group, outcome) in round {
            switch outcome {
            case .delivered(let recordID, _, let attempt):
                let entry = try StoreJSON.encode([attempt])
                let madeDeal = group.head.operation == .create && group.head.target == masterTarget
                for id in group.ids {
                    done.ids.append(id)
                    done.entries.append(entry)
                    done.deals.append(madeDeal ? recordID : "")
                }
            case .retry(let at, let attempt):
                let entry = try StoreJSON.encode([attempt])
                for id in group.ids {
                    retried.ids.append(id)
                    retried.at.append(at)
                    retried.entries.append(entry)
                }
            case .deadLetter(let errorClass, let attempt):
                let entry = try StoreJSON.encode([attempt])
                for id in group.ids {
                    dead.ids.append(id)
                    dead.entries.append(entry)
                    dead.classes.append(errorClass.rawValue)
                    dead.details.append(attempt.detail)
                }
            }
        }
        if !done.ids.isEmpty {
            try await tx.query(
                """
                UPDATE outbox o SET status = 'done', attempts = o.attempts + 1, done_at = now(), claimed_by = NULL,
                    claimed_until = NULL, attempt_log = o.attempt_log || t.entry::jsonb, updated_at = now(),
                    master_deal_id = coalesce(o.master_deal_id, NULLIF(t.deal, ''))
                FROM unnest(\(done.ids), \(done.entries), \(done.deals)) AS t(id, entry, deal) WHERE o.id = t.id
                """, logger: logger)
        }
        if !retried.ids.isEmpty {
            try await tx.query(
                """
                UPDATE outbox o SET status = 'pending', attempts = o.attempts + 1, next_attempt_at = t.at, claimed_by = NULL,
                    claimed_until = NULL, attempt_log = o.attempt_log || t.entry::jsonb, updated_at = now()
                FROM unnest(\(retried.ids), \(retried.at), \(retried.entries)) AS t(id, at, entry) WHERE o.id = t.id
                """, logger: logger)
        }
        if !dead.ids.isEmpty {
            try await tx.query(
                """
                UPDATE outbox o SET status = 'dead', attempts = o.attempts + 1, claimed_by = NULL, claimed_until = NULL,
                    attempt_log = o.attempt_log || t.entry::jsonb, updated_at = now()
                FROM unnest(\(dead.ids), \(dead.entries)) AS t(id, entry) WHERE o.id = t.id
                """, logger: logger)
            try await tx.query(
                """
                INSERT INTO dead_letters (outbox_id, connector, record_key, master_deal_id, operation, payload,
                    idempotency_key, lineage_id, error_class, last_error, attempts, replay_count)
                SELECT o.id, o.target, o.record_key, o.master_deal_id, o.operation, o.payload, o.idempotency_key, o.lineage_id,
                    t.class, t.detail, o.attempt_log, o.replay_count
                FROM outbox o JOIN unnest(\(dead.ids), \(dead.classes), \(dead.details)) AS t(id, class, detail) ON o.id = t.id
                ORDER BY o.id
                """, logger: logger)
        }
    }
}
