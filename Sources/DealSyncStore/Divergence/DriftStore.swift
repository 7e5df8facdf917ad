import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// Open drift: a `drift` entry of the divergence log stays open until the two sides agree again.
public struct DriftStore: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    /// Opens a drift entry for a record's field unless one is open already; returns the open entry's id and
    /// whether it was opened now.
    public func open(
        _ entry: DivergenceEntry, connector: String, masterDealID: String?, recordID: String?,
        lineage: UUID?
    ) async throws -> (id: Int64, opened: Bool) {
        try await database.client.checkedTransaction(logger: logger) { tx in
            let key = "drift:\(connector):\(recordID ?? "-"):\(entry.field ?? "*")"
            try await tx.run("SELECT pg_advisory_xact_lock(hashtextextended(\(key), 7))", logger: logger)
            let existing = try await tx.query(
                """
                SELECT id FROM divergence_log WHERE kind = 'drift' AND open AND connector = \(connector)
                  AND record_id IS NOT DISTINCT FROM \(recordID) AND field IS NOT DISTINCT FROM \(entry.field)
                """, logger: logger)
            for try await id in existing.decode(Int64.self) { return (id, false) }
            try await DivergenceRecords.insert(
                entry, connector: connector, masterDealID: masterDealID, recordID: recordID,
                lineage: lineage, open: true, on: tx, logger: logger)
            let rows = try await tx.query("SELECT currval('divergence_log_id_seq')", logger: logger)
            for try await id in rows.decode(Int64.self) { return (id, true) }
            throw StoreError("drift entry was not stored")
        }
    }

    /// Which of `records` have open drift (of any field) for `connector`, in one query.
    public func recordsWithOpenDrift(connector: String, among records: [String]) async throws -> Set<String> {
        guard !records.isEmpty else { return [] }
        let rows = try await database.client.query(
            """
            SELECT DISTINCT record_id FROM divergence_log
            WHERE kind = 'drift' AND open AND connector = \(connector) AND record_id = ANY(\(records))
            """, logger: logger)
        var found: Set<String> = []
        for try await record in rows.decode(String.self) { found.insert(record) }
        return found
    }

    /// Closes the open drift of a record's fields that now agree; returns the ids closed.
    @discardableResult
    public func close(connector: String, recordID: String?, fields: [String], outcome: String) async throws -> [Int64] {
        let rows = try await database.client.query(
            """
            UPDATE divergence_log SET open = false, closed_at = now(),
                detail = detail || jsonb_build_object('closed', \(outcome))
            WHERE kind = 'drift' AND open AND connector = \(connector) AND record_id IS NOT DISTINCT FROM \(recordID)
              AND field = ANY(\(fields))
            RETURNING id
            """, logger: logger)
        var ids: [Int64] = []
        for try await id in rows.decode(Int64.self) { ids.append(id) }
        return ids
    }

    /// Open drift per connector and field, and the age of the oldest per connector (metrics).
    public func openCounts() async throws -> (byField: [(connector: String, field: String, count: Int)], oldest: [String: Double]) {
        let rows = try await database.client.query(
            """
            SELECT connector, coalesce(field, '*'), count(*)::int8, extract(epoch FROM now() - min(created_at))::float8
            FROM divergence_log WHERE kind = 'drift' AND open GROUP BY connector, field
            """, logger: logger)
        var byField: [(String, String, Int)] = []
        var oldest: [String: Double] = [:]
        for try await (connector, field, count, age) in rows.decode((String, String, Int, Double).self) {
            byField.append((connector, field, count))
            oldest[connector] = max(oldest[connector] ?? 0, age)
        }
        return (byField, oldest)
    }

    /// Every field ever drifted (so a closed one can be reported as zero).
    public func knownFields() async throws -> [(connector: String, field: String)] {
        let rows = try await database.client.query(
            "SELECT DISTINCT connector, coalesce(field, '*') FROM divergence_log WHERE kind = 'drift'", logger: logger)
        var result: [(String, String)] = []
        for try await row in rows.decode((String, String).self) { result.append(row) }
        return result
    }
}
