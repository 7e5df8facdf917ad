import DealSyncCore
import Foundation
import Logging
import PostgresNIO

extension SyncProcessor {
    struct Totals {
        var writes = 0
        var entries = 0
        var kinds: [(String, DivergenceEntry.Kind)] = []
    }

    func process(_ observation: Observation, _ context: ObservationContext) async throws -> Totals {
        switch observation.side {
        case .master: try await processMaster(observation, context)
        case .crm: try await processCRM(observation, context)
        }
    }

    // MARK: MasterDeal

    private func processMaster(_ observation: Observation, _ context: ObservationContext) async throws -> Totals {
        let tx = context.tx
        let dealID = observation.recordID
        try await LinkRecords.lock("deal:\(dealID)", on: tx, logger: logger)
        let links = try await LinkRecords.byMaster(dealID, on: tx, logger: logger)
        var totals = Totals()
        for lane in setup.lanes {
            if var row = links.first(where: { $0.connector == lane.connector }) {
                let snapshot = try await LinkRecords.snapshot(row, on: tx, logger: logger)
                let decision: RecordDecision
                if let refusal = context.refusal, refusal.linkID == row.id {
                    decision = lane.decider.refused(keys: refusal.keys, on: refusal.side, current: observation, link: snapshot,
                                                    cause: context.cause)
                } else {
                    decision = lane.decider.decide(observation, link: snapshot, cause: context.cause)
                }
                if let version = observation.stamp?.version, version > (row.masterVersion ?? 0) { row.masterVersion = version }
                totals += try await commit(decision, lane: lane, row: row, previous: snapshot.fields, context)
                continue
            }
            guard observation.action == .upsert, lane.mapping.create.inCRM, lane.carries(account: observation.account) else { continue }
            if observation.byIntegration {
                // dealsync created this deal for a CRM record; its link appears once the create is confirmed.
                if context.attempts < Self.maxAttempts { throw RetryLater(inboxID: context.inboxID, delay: 1) }
                // Still unlinked: the confirmation is late or lost (the create may be a dead letter). The CRM record
                // it was made for exists, so another would be a duplicate; the confirmation or a replay links them.
                totals += try await linkProblem(
                    "not created in \(lane.connector): dealsync made this deal for a record there and its create is not confirmed yet",
                    lane: lane, masterID: dealID, recordID: nil, context)
                continue
            }
            var row = try await LinkRecords.insert(connector: lane.connector, masterID: dealID, recordID: nil,
                                                   lineage: context.lineage, on: tx, logger: logger)
            row.masterVersion = observation.stamp?.version
            let snapshot = LinkSnapshot(linkID: row.id, masterDealID: dealID, recordID: nil)
            let decision = lane.decider.createInCRM(from: observation, link: snapshot, cause: context.cause)
            totals += try await commit(decision, lane: lane, row: row, previous: [:], context)
        }
        return totals
    }

    /// Logs why a deal and a CRM record were not linked (or created), as an `unmapped_value` entry on the link field.
    private func linkProblem(_ outcome: String, lane: SyncSetup.Lane, masterID: String, recordID: String?,
                             _ context: ObservationContext) async throws -> Totals {
        let entry = DivergenceEntry(kind: .unmappedValue, field: lane.mapping.linkField, masterValue: .text(masterID),
                                    crmValue: recordID.map(FieldValue.text), rule: "link", outcome: outcome)
        try await DivergenceRecords.insert(entry, connector: lane.connector, masterDealID: masterID, recordID: recordID,
                                           lineage: context.lineage, on: context.tx, logger: logger)
        return Totals(writes: 0, entries: 1, kinds: [(lane.connector, .unmappedValue)])
    }

    // MARK: CRM

    private func processCRM(_ observation: Observation, _ context: ObservationContext) async throws -> Totals {
        guard let lane = setup.lane(observation.connector) else {
            throw StoreError("no mapping for connector \(observation.connector)")
        }
        let tx = context.tx
        try await LinkRecords.lock("record:\(lane.connector):\(observation.recordID)", on: tx, logger: logger)
        if let row = try await LinkRecords.byRecord(observation.recordID, connector: lane.connector, on: tx, logger: logger) {
            let snapshot = try await LinkRecords.snapshot(row, on: tx, logger: logger)
            let decision = lane.decider.decide(observation, link: snapshot, cause: context.cause)
            return try await commit(decision, lane: lane, row: row, previous: snapshot.fields, context)
        }
        if let masterID = observation.linkedMasterID, !masterID.isEmpty {
            try await LinkRecords.lock("deal:\(masterID)", on: tx, logger: logger)
            if var row = try await LinkRecords.byMaster(masterID, connector: lane.connector, on: tx, logger: logger) {
                guard row.recordID == nil || row.recordID == observation.recordID else {
                    // Another record already carries this deal: never link two records to one deal.
                    return try await linkProblem(
                        "not linked: deal \(masterID) is already linked to record \(row.recordID ?? "?")",
                        lane: lane, masterID: masterID, recordID: observation.recordID, context)
                }
                // The echo of our own create, arriving before (or while) its confirmation commits.
                row.recordID = observation.recordID
                let snapshot = try await LinkRecords.snapshot(row, on: tx, logger: logger)
                let decision = lane.decider.decide(observation, link: snapshot, cause: context.cause)
                return try await commit(decision, lane: lane, row: row, previous: snapshot.fields, context)
            }
            let row = try await LinkRecords.insert(connector: lane.connector, masterID: masterID, recordID: observation.recordID,
                                                   lineage: context.lineage, on: tx, logger: logger)
            let decision = lane.decider.adopt(observation, link: LinkSnapshot(linkID: row.id, masterDealID: masterID, recordID: observation.recordID))
            try await requestRefetch(connector: setup.masterConnector, recordID: masterID, context)
            return try await commit(decision, lane: lane, row: row, previous: [:], context)
        }
        if observation.action == .delete, context.attempts < Self.maxAttempts {
            // Possibly a record dealsync just created, whose confirmation has not committed yet: look again later.
            throw RetryLater(inboxID: context.inboxID, delay: 1)
        }
        guard observation.action == .upsert, lane.mapping.create.inMaster, let account = lane.masterAccount else {
            return Totals()
        }
        let row = try await LinkRecords.insert(connector: lane.connector, masterID: nil, recordID: observation.recordID,
                                               lineage: context.lineage, on: tx, logger: logger)
        let decision = lane.decider.createInMaster(
            from: observation, link: LinkSnapshot(linkID: row.id, masterDealID: nil, recordID: observation.recordID),
            account: account, cause: context.cause)
        return try await commit(decision, lane: lane, row: row, previous: [:], context)
    }

    /// Asks for a record to be read again (its row decodes to a fetch request).
    func requestRefetch(connector: String, recordID: String, _ context: ObservationContext) async throws {
        let body = try StoreJSON.encode(FetchRequest(connector: connector, recordID: recordID))
        let item = InboxItem(connector: connector, dedupeKey: "refetch:\(recordID):\(context.cause)", source: .refetch,
                             contentType: "application/json", body: Data(body.utf8), lineageID: context.lineage)
        _ = try await InboxStore.insert([item], on: context.tx, logger: logger)
    }

    // MARK: Committing a decision

    func commit(_ decision: RecordDecision, lane: SyncSetup.Lane, row: LinkRecords.Row, previous: [String: FieldState],
                _ context: ObservationContext, inboxID: Int64?? = .none) async throws -> Totals {
        let tx = context.tx
        var row = row
        switch decision.linkChange {
        case .unlink?:
            row.active = false
            try await OutboxRecords.supersedePending(link: row.id, target: lane.connector, on: tx, logger: logger)
        case .relink?:
            row.active = true
        case nil:
            break
        }
        try await LinkRecords.update(row, lineage: context.lineage, on: tx, logger: logger)
        try await LinkRecords.saveFieldStates(link: row.id, decision.fields, previous: previous, on: tx, logger: logger)
        try checkpoint?("after-state")
        for write in decision.writes {
            let target = write.side == .master ? setup.masterConnector : lane.connector
            try await OutboxRecords.insert(
                write, target: target, link: row.id, masterDealID: row.masterDealID, lineage: context.lineage,
                inboxID: inboxID ?? (context.inboxID == 0 ? nil : context.inboxID), on: tx, logger: logger)
        }
        try checkpoint?("after-outbox")
        for entry in decision.entries {
            try await DivergenceRecords.insert(entry, connector: lane.connector, masterDealID: row.masterDealID,
                                               recordID: row.recordID, lineage: context.lineage, on: tx, logger: logger)
        }
        if decision.needsMasterFetch == false, !decision.writes.isEmpty {
            try await tx.query("SELECT pg_notify('dealsync_outbox', '')", logger: logger)
        }
        return Totals(writes: decision.writes.count, entries: decision.entries.count,
                      kinds: decision.entries.map { (lane.connector, $0.kind) })
    }
}

extension SyncProcessor.Totals {
    static func += (lhs: inout Self, rhs: Self) {
        lhs.writes += rhs.writes
        lhs.entries += rhs.entries
        lhs.kinds += rhs.kinds
    }
}
