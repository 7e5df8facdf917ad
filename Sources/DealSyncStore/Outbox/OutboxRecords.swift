import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// Writes outbox rows inside the processing transaction.
enum OutboxRecords {
    /// Inserts a row; the same idempotency key twice inserts nothing the second time.
    static func insert(
        _ write: RecordDecision.Write, target: String, lane: String, link: Int64, masterDealID: String?, lineage: UUID,
        inboxID: Int64?, on tx: PostgresConnection, logger: Logger
    ) async throws {
        let payload = OutboxPayload(values: write.values).jsonText
        try await tx.query(
            """
            INSERT INTO outbox (target, record_key, link_id, master_deal_id, operation, payload, idempotency_key,
                lineage_id, inbox_id, lane)
            VALUES (\(target), \(write.recordKey), \(link), \(masterDealID), \(write.operation.rawValue), \(payload)::jsonb,
                \(write.idempotencyKey), \(lineage), \(inboxID), \(lane))
            ON CONFLICT (idempotency_key) DO NOTHING
            """, logger: logger)
    }
}
