import DealSyncCore
import Foundation
import Logging
import PostgresNIO

extension SyncProcessor {
    /// Repairs drift on a link in one transaction: the fresh reads of both records are decided like any
    /// observation (so a change the webhooks missed wins or loses by the field's rule), then the decided value
    /// is written wherever a side still differs. Returns the number of writes enqueued.
    public func repairDrift(linkID: Int64, fields: [String], fresh: [Observation], lineage: UUID, cause: String) async throws -> Int {
        try await database.client.withTransaction(logger: logger) { tx in
            var writes = 0
            guard let row = try await LinkRecords.byID(linkID, on: tx, logger: logger), let lane = setup.lane(row.connector) else {
                return 0
            }
            // Only the repaired fields are re-decided: a `repair: alert` field waits for a person.
            let keys = Set(lane.mapping.fields.filter { fields.contains($0.name) }.flatMap { [$0.master, $0.crm] })
            let focused = fresh.map { observation -> Observation in
                var copy = observation
                var values = copy.fields.filter { keys.contains($0.key) }
                if copy.isComplete {
                    for field in lane.mapping.fields where fields.contains(field.name) {
                        let key = copy.side == .master ? field.master : field.crm
                        if values[key] == nil { values[key] = .null }
                    }
                }
                copy.fields = values
                copy.isComplete = false
                return copy
            }
            for (index, observation) in focused.enumerated() {
                let context = ObservationContext(tx: tx, inboxID: 0, cause: "\(cause):\(index)", lineage: lineage, attempts: Self.maxAttempts)
                writes += try await process(observation, context).writes
            }
            let snapshot = try await LinkRecords.snapshot(row, on: tx, logger: logger)
            var sides: [Side: Observation] = [:]
            for observation in focused { sides[observation.side] = observation }
            let decision = lane.decider.repair(fields: fields, fresh: sides, link: snapshot, cause: cause)
            let context = ObservationContext(tx: tx, inboxID: 0, cause: cause, lineage: lineage, attempts: 0)
            writes += try await commit(decision, lane: lane, row: row, previous: snapshot.fields, context, inboxID: nil).writes
            return writes
        }
    }

    /// Whether work still in flight explains a difference on a link: writes waiting in the outbox, or inbox rows
    /// not yet processed for either record.
    public func hasWorkInFlight(linkID: Int64, connector: String, recordID: String?, masterDealID: String?) async throws -> Bool {
        let rows = try await database.client.query(
            """
            SELECT (SELECT count(*) FROM outbox WHERE link_id = \(linkID) AND status IN ('pending', 'in_flight'))
                 + (SELECT count(*) FROM inbox WHERE status = 'pending'
                      AND ((connector = \(connector) AND \(recordID ?? "") <> '' AND position(\(recordID ?? "-") IN dedupe_key) > 0)
                        OR (connector = \(setup.masterConnector) AND position(\(masterDealID ?? "-") IN dedupe_key) > 0)
                        OR (source IN ('webhook', 'refetch') AND connector IN (\(connector), \(setup.masterConnector)))))::int8
            """, logger: logger)
        for try await count in rows.decode(Int.self) { return count > 0 }
        return false
    }
}
