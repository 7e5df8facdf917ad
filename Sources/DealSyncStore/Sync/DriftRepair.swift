import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// Drift repair for the reconciler: fresh reads of both records are decided like any observation, then the
/// decided value is written wherever a side still differs.
public struct DriftRepair: Sendable {
    public let context: SyncContext

    public init(context: SyncContext) {
        self.context = context
    }

    var logger: Logger { context.logger }

    /// Repairs drift on a link in one transaction: the fresh reads of both records are decided like any
    /// observation (so a change the webhooks missed wins or loses by the field's rule), then the decided value
    /// is written wherever a side still differs. Returns the number of writes enqueued.
    public func repairDrift(linkID: Int64, fields: [String], fresh: [Observation], lineage: UUID, cause: String) async throws -> Int {
        try await context.database.transaction(logger: logger) { tx, notices in
            guard let names = try await DeliveryOutcomes.names(ofLink: linkID, on: tx, logger: logger) else { return 0 }
            var keys = names.keys
            for observation in fresh { keys.add(observation) }
            var session = try await DecisionSession.open(context, keys: keys, reserve: 0, on: tx)
            guard let lane = session.book[linkID].flatMap({ context.setup.lane($0.connector) }) else { return 0 }
            // Only the repaired fields are re-decided: a `repair: alert` field waits for a person.
            let keysOfFields = Set(lane.mapping.fields.filter { fields.contains($0.name) }.flatMap { [$0.master, $0.crm] })
            let focused = fresh.map { observation -> Observation in
                var copy = observation
                var values = copy.fields.filter { keysOfFields.contains($0.key) }
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
            _ = session.decide(focused, cause: cause, lineage: lineage, inboxID: nil, attempts: SyncContext.maxAttempts)
            var sides: [Side: Observation] = [:]
            for observation in focused { sides[observation.side] = observation }
            if let snapshot = session.book[linkID]?.snapshot {
                let decision = lane.decider.repair(fields: fields, fresh: sides, link: snapshot, cause: cause)
                _ = session.commit(decision, link: linkID, lineage: lineage)
            }
            return try await session.save(notices: notices)
        }
    }

    /// Whether work still in flight explains a difference on a link: writes waiting in the outbox, or inbox rows
    /// not yet processed for either record.
    public func hasWorkInFlight(linkID: Int64, connector: String, recordID: String?, masterDealID: String?) async throws -> Bool {
        let rows = try await context.database.client.query(
            """
            SELECT EXISTS (SELECT 1 FROM outbox WHERE link_id = \(linkID) AND status IN ('pending', 'in_flight'))
                OR EXISTS (SELECT 1 FROM inbox WHERE status = 'pending'
                      AND ((connector = \(connector) AND \(recordID ?? "") <> '' AND position(\(recordID ?? "-") IN dedupe_key) > 0)
                        OR (connector = \(context.setup.masterConnector) AND position(\(masterDealID ?? "-") IN dedupe_key) > 0)
                        OR (source IN ('webhook', 'refetch') AND connector IN (\(connector), \(context.setup.masterConnector)))))
            """, logger: logger)
        // EXISTS stops at the first row found: the check costs little however long the backlog is.
        for try await busy in rows.decode(Bool.self) { return busy }
        return false
    }
}
