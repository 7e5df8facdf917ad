import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// Writes divergence log entries inside the processing transaction.
enum DivergenceRecords {
    static func insert(
        _ entry: DivergenceEntry, connector: String, masterDealID: String?, recordID: String?, lineage: UUID?,
        open: Bool = false, on tx: PostgresConnection, logger: Logger
    ) async throws {
        let master = try entry.masterValue.map(StoreJSON.encode)
        let crm = try entry.crmValue.map(StoreJSON.encode)
        let detail = try StoreJSON.encode(entry.detail)
        try await tx.query(
            """
            INSERT INTO divergence_log (kind, master_deal_id, connector, record_id, field, master_value, crm_value,
                master_at, crm_at, rule, winner, outcome, lineage_id, detail, open)
            VALUES (\(entry.kind.rawValue), \(masterDealID), \(connector), \(recordID), \(entry.field), \(master)::jsonb,
                \(crm)::jsonb, \(entry.masterAt.map(Self.date)), \(entry.crmAt.map(Self.date)), \(entry.rule),
                \(entry.winner?.rawValue), \(entry.outcome), \(lineage), \(detail)::jsonb, \(open))
            """, logger: logger)
    }

    static func date(_ stamp: SourceStamp) -> Date { Date(timeIntervalSince1970: Double(stamp.millis) / 1000) }
}
