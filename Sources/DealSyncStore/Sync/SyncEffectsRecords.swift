import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// Writes what deciding caused (outbox rows, divergence entries, refetch requests, cancelled writes) in bulk.
enum SyncEffectsRecords {
    /// The effects of one inbox row (or delivery outcome), with where they came from.
    struct Caused {
        var effects: SyncPlanner.Effects
        var lineage: UUID
        var inboxID: Int64?
    }

    /// Writes everything in `caused` with a handful of statements; `masterDealIDs` gives each link's deal id as
    /// it is after the batch (a write is ordered under it). Returns how many outbox rows were written.
    @discardableResult
    static func write(
        _ caused: [Caused], setup: SyncSetup, links: [Int64: LinkBook.Entry], checkpoint: (String) throws -> Void,
        notices: Notices, on tx: PostgresConnection, logger: Logger
    ) async throws -> Int {
        try await cancel(caused.flatMap(\.effects.cancelled), on: tx, logger: logger)
        let targets = try await insertWrites(caused, setup: setup, links: links, on: tx, logger: logger)
        try checkpoint("after-outbox")
        try await insertEntries(caused, on: tx, logger: logger)
        try await insertRefetches(caused, masterConnector: setup.masterConnector, notices: notices, on: tx, logger: logger)
        // One hint per target written to, so only its relays wake (a studio's hundred relays do not all look).
        notices.wake(.outbox, targets)
        return targets.count
    }

    /// Writes still waiting for a target on a link that ended: they must never land.
    static func cancel(_ cancelled: [(linkID: Int64, target: String)], on tx: PostgresConnection, logger: Logger) async throws {
        guard !cancelled.isEmpty else { return }
        try await tx.query(
            """
            UPDATE outbox o SET status = 'superseded', updated_at = now()
            FROM unnest(\(cancelled.map(\.linkID)), \(cancelled.map(\.target))) AS c(link, target)
            WHERE o.link_id = c.link AND o.target = c.target AND o.status = 'pending'
            """, logger: logger)
    }

    /// Inserts the outbox rows, and with a decision feed one row of it per write (after the write, keyed by the
    /// write's key; its record key is the link's, so one link's decisions are published one at a time, in order;
    /// no link id, so its confirmation teaches no field state); returns each row's target.
    private static func insertWrites(
        _ caused: [Caused], setup: SyncSetup, links: [Int64: LinkBook.Entry], on tx: PostgresConnection,
        logger: Logger
    ) async throws -> [String] {
        var columns = (
            targets: [String](), recordKeys: [String](), links: [Int64](), deals: [String](), operations: [String](),
            payloads: [String](), keys: [String](), lineages: [UUID](), inboxIDs: [Int64](), lanes: [String]()
        )
        for cause in caused {
            for write in cause.effects.writes {
                columns.targets.append(write.target)
                columns.recordKeys.append(write.write.recordKey)
                columns.links.append(write.linkID)
                columns.deals.append(links[write.linkID]?.masterDealID ?? "")
                // The lane whose change caused the write: its link's CRM connector.
                columns.lanes.append(links[write.linkID]?.connector ?? write.target)
                columns.operations.append(write.write.operation.rawValue)
                columns.payloads.append(OutboxPayload(values: write.write.values).jsonText)
                columns.keys.append(write.write.idempotencyKey)
                columns.lineages.append(cause.lineage)
                columns.inboxIDs.append(cause.inboxID ?? 0)
                // An update of no mapping field (the link field written back) is bookkeeping, not a change.
                guard let decisionFeed = setup.decisionFeed, write.write.operation == .create || !write.write.fields.isEmpty else {
                    continue
                }
                let link = links[write.linkID]
                let side: Side = write.target == setup.masterConnector ? .master : .crm
                let lane = link.flatMap { setup.lane($0.connector) }
                let fields = lane?.decider.canonical(write.write.fields, sentTo: side) ?? write.write.fields
                columns.targets.append(decisionFeed)
                columns.recordKeys.append("decided:link:\(write.linkID)")
                columns.links.append(0)
                columns.deals.append(link?.masterDealID ?? "")
                columns.lanes.append(link?.connector ?? write.target)
                columns.operations.append(write.write.operation.rawValue)
                let decided = DecidedWrite(
                    target: write.target, connector: link?.connector ?? write.target, linkID: write.linkID, recordID: link?.recordID)
                columns.payloads.append(OutboxPayload(values: fields, decided: decided).jsonText)
                columns.keys.append("decided:" + write.write.idempotencyKey)
                columns.lineages.append(cause.lineage)
                columns.inboxIDs.append(cause.inboxID ?? 0)
            }
        }
        guard !columns.targets.isEmpty else { return [] }
        try await tx.query(
            """
            INSERT INTO outbox (target, record_key, link_id, master_deal_id, operation, payload, idempotency_key, lineage_id, inbox_id,
                lane)
            SELECT target, record_key, NULLIF(link, 0), NULLIF(deal, ''), operation, payload::jsonb, key, lineage, NULLIF(inbox, 0), lane
            FROM unnest(\(columns.targets), \(columns.recordKeys), \(columns.links), \(columns.deals), \(columns.operations),
                        \(columns.payloads), \(columns.keys), \(columns.lineages), \(columns.inboxIDs), \(columns.lanes))
                WITH ORDINALITY AS t(target, record_key, link, deal, operation, payload, key, lineage, inbox, lane, ordinality)
            ORDER BY ordinality
            ON CONFLICT (idempotency_key) DO NOTHING
            """, logger: logger)
        return columns.targets
    }

    private static func insertEntries(_ caused: [Caused], on tx: PostgresConnection, logger: Logger) async throws {
        let noStamp = Int64.min
        var c = (
            kinds: [String](), deals: [String](), connectors: [String](), records: [String](), fields: [String](),
            masterValues: [String](), crmValues: [String](), masterAt: [Int64](), crmAt: [Int64](), rules: [String](),
            winners: [String](), outcomes: [String](), lineages: [UUID](), details: [String]()
        )
        for cause in caused {
            for logged in cause.effects.entries {
                let entry = logged.entry
                c.kinds.append(entry.kind.rawValue)
                c.deals.append(logged.masterDealID ?? "")
                c.connectors.append(logged.connector)
                c.records.append(logged.recordID ?? "")
                c.fields.append(entry.field ?? "")
                c.masterValues.append(try entry.masterValue.map(StoreJSON.encode) ?? "")
                c.crmValues.append(try entry.crmValue.map(StoreJSON.encode) ?? "")
                c.masterAt.append(entry.masterAt?.millis ?? noStamp)
                c.crmAt.append(entry.crmAt?.millis ?? noStamp)
                c.rules.append(entry.rule ?? "")
                c.winners.append(entry.winner?.rawValue ?? "")
                c.outcomes.append(entry.outcome)
                c.lineages.append(cause.lineage)
                c.details.append(try StoreJSON.encode(entry.detail))
            }
        }
        guard !c.kinds.isEmpty else { return }
        try await tx.query(
            """
            INSERT INTO divergence_log (kind, master_deal_id, connector, record_id, field, master_value, crm_value, master_at,
                crm_at, rule, winner, outcome, lineage_id, detail)
            SELECT kind, NULLIF(deal, ''), connector, NULLIF(record, ''), NULLIF(field, ''), NULLIF(master_value, '')::jsonb,
                NULLIF(crm_value, '')::jsonb,
                CASE WHEN master_at = \(noStamp) THEN NULL ELSE to_timestamp(master_at / 1000.0) END,
                CASE WHEN crm_at = \(noStamp) THEN NULL ELSE to_timestamp(crm_at / 1000.0) END,
                NULLIF(rule, ''), NULLIF(winner, ''), outcome, lineage, detail::jsonb
            FROM unnest(\(c.kinds), \(c.deals), \(c.connectors), \(c.records), \(c.fields), \(c.masterValues), \(c.crmValues),
                        \(c.masterAt), \(c.crmAt), \(c.rules), \(c.winners), \(c.outcomes), \(c.lineages), \(c.details))
                WITH ORDINALITY AS t(kind, deal, connector, record, field, master_value, crm_value, master_at, crm_at, rule, winner,
                    outcome, lineage, detail, ordinality)
            ORDER BY ordinality
            """, logger: logger)
    }

    /// Each adopted CRM record asks for its MasterDeal deal to be read (a row that decodes to a fetch request).
    private static func insertRefetches(
        _ caused: [Caused], masterConnector: String, notices: Notices, on tx: PostgresConnection,
        logger: Logger
    ) async throws {
        var items: [InboxItem] = []
        for cause in caused {
            for (index, dealID) in cause.effects.refetches.enumerated() {
                let body = try StoreJSON.encode(FetchRequest(connector: masterConnector, recordID: dealID))
                let origin = cause.inboxID.map { "inbox:\($0)" } ?? cause.lineage.uuidString.lowercased()
                items.append(
                    InboxItem(
                        connector: masterConnector, dedupeKey: "refetch:\(dealID):\(origin):\(index)",
                        source: .refetch, contentType: "application/json", body: Data(body.utf8),
                        lineageID: cause.lineage))
            }
        }
        _ = try await InboxRecords.insert(items, notices: notices, on: tx, logger: logger)
    }
}
