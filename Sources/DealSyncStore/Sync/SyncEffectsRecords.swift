import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// What deciding caused (outbox rows, divergence entries, cancelled writes) as columns for ``DecisionRecords``, and
/// the refetch requests it stores.
enum SyncEffectsRecords {
    /// The effects of one inbox row (or delivery outcome), with where they came from.
    struct Caused {
        var effects: SyncPlanner.Effects
        var lineage: UUID
        var inboxID: Int64?
    }

    /// What deciding caused, as the columns ``DecisionRecords`` writes: the writes to cancel, the outbox rows and
    /// the divergence entries.
    struct Rows {
        var cancelled: (links: [Int64], targets: [String]) = ([], [])
        var writes = Writes()
        var entries = Entries()

        var isEmpty: Bool { cancelled.links.isEmpty && writes.targets.isEmpty && entries.kinds.isEmpty }

        struct Writes {
            var targets: [String] = [], recordKeys: [String] = [], links: [Int64] = [], deals: [String] = []
            var operations: [String] = [], payloads: [String] = [], keys: [String] = [], lineages: [UUID] = []
            var inboxIDs: [Int64] = [], lanes: [String] = []
        }

        struct Entries {
            /// Written for an entry without a time on that side (the statement turns it back into NULL).
            static let noStamp = Int64.min
            var kinds: [String] = [], deals: [String] = [], connectors: [String] = [], records: [String] = []
            var fields: [String] = [], masterValues: [String] = [], crmValues: [String] = [], masterAt: [Int64] = []
            var crmAt: [Int64] = [], rules: [String] = [], winners: [String] = [], outcomes: [String] = []
            var lineages: [UUID] = [], details: [String] = []
        }
    }

    /// The rows `caused` writes; `links` gives each link as it is after the session (a write is ordered under its
    /// deal id).
    static func rows(_ caused: [Caused], setup: SyncSetup, links: [Int64: LinkBook.Entry]) throws -> Rows {
        var rows = Rows()
        for (linkID, target) in caused.flatMap(\.effects.cancelled) {
            rows.cancelled.links.append(linkID)
            rows.cancelled.targets.append(target)
        }
        rows.writes = writes(caused, setup: setup, links: links)
        rows.entries = try entries(caused)
        return rows
    }

    /// The outbox rows, and with a decision feed one row of it per write (after the write, keyed by the write's
    /// key; its record key is the link's, so one link's decisions are published one at a time, in order; no link
    /// id, so its confirmation teaches no field state).
    private static func writes(_ caused: [Caused], setup: SyncSetup, links: [Int64: LinkBook.Entry]) -> Rows.Writes {
        var columns = Rows.Writes()
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
        return columns
    }

    private static func entries(_ caused: [Caused]) throws -> Rows.Entries {
        var c = Rows.Entries()
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
                c.masterAt.append(entry.masterAt?.millis ?? Rows.Entries.noStamp)
                c.crmAt.append(entry.crmAt?.millis ?? Rows.Entries.noStamp)
                c.rules.append(entry.rule ?? "")
                c.winners.append(entry.winner?.rawValue ?? "")
                c.outcomes.append(entry.outcome)
                c.lineages.append(cause.lineage)
                c.details.append(try StoreJSON.encode(entry.detail))
            }
        }
        return c
    }

    /// Each adopted CRM record asks for its MasterDeal deal to be read (a row that decodes to a fetch request).
    static func insertRefetches(
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
