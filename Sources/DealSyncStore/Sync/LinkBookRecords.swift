import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// Loads the links a batch touches into a ``LinkBook`` and writes back what deciding changed, set-based: a
/// handful of statements per batch whatever its size.
package enum LinkBookRecords {
    /// What to look up: deals (every connector's link to each), CRM records, and links by id.
    struct Keys {
        var deals: Set<String> = []
        var records: Set<RecordKey> = []
        var linkIDs: Set<Int64> = []
        /// The accounts and names of the MasterDeal deals observed: a deal with no link yet may be the answer to a
        /// create in flight with the same ones. A deal without a name as text matches any name of its account.
        var observedDeals: Set<ObservedDeal> = []

        struct ObservedDeal: Hashable {
            var account: String
            var name: String?
        }

        struct RecordKey: Hashable {
            var connector: String
            var recordID: String
        }

        /// Every key whose links an observation may read or create.
        mutating func add(_ observation: Observation) {
            switch observation.side {
            case .master:
                deals.insert(observation.recordID)
                if let account = observation.account {
                    var name: String?
                    if case .text(let text)? = observation.fields["opportunity_name"] { name = text }
                    observedDeals.insert(ObservedDeal(account: account, name: name))
                }
            case .crm:
                records.insert(RecordKey(connector: observation.connector, recordID: observation.recordID))
                if let master = observation.linkedMasterID, !master.isEmpty { deals.insert(master) }
            }
        }

        /// The advisory-lock names that serialise everything about these deals and records across transactions.
        var lockNames: [String] {
            deals.map { "deal:\($0)" } + records.map { "record:\($0.connector):\($0.recordID)" }
        }
    }

    /// Takes the advisory locks of `names` in one statement, in a fixed order so two batches never deadlock.
    static func lock(_ names: [String], on tx: PostgresConnection, logger: Logger) async throws {
        guard !names.isEmpty else { return }
        try await tx.query(
            """
            SELECT count(pg_advisory_xact_lock(key)) FROM (
                SELECT DISTINCT hashtextextended(name, 7) AS key FROM unnest(\(names)::text[]) AS name ORDER BY 1
            ) AS ordered
            """, logger: logger)
    }

    /// Reads (and row-locks) every link of `keys` and their field state, and reserves `reserve` ids for links
    /// the batch may create. When deals are observed, the creates in flight to `masterTarget` are read first: a
    /// create confirmed after that read is then seen in its link, one confirmed before it is no longer in flight.
    static func load(
        _ keys: Keys, reserve: Int, masterTarget: String, on tx: PostgresConnection, logger: Logger
    ) async throws -> LinkBook {
        let inFlight = try await masterCreatesInFlight(to: masterTarget, like: keys.observedDeals, on: tx, logger: logger)
        var links: [Int64: LinkBook.Entry] = [:]
        let deals = Array(keys.deals), connectors = keys.records.map(\.connector), records = keys.records.map(\.recordID)
        let ids = Array(keys.linkIDs)
        if !deals.isEmpty || !records.isEmpty || !ids.isEmpty {
            let rows = try await tx.query(
                """
                SELECT id, connector, master_deal_id, record_id, state = 'active', master_version FROM links
                WHERE id = ANY(ARRAY(
                    SELECT id FROM links WHERE master_deal_id = ANY(\(deals))
                    UNION ALL
                    SELECT l.id FROM unnest(\(connectors)::text[], \(records)::text[]) AS k(connector, record)
                        JOIN links l ON l.connector = k.connector AND l.record_id = k.record
                    UNION ALL
                    SELECT unnest(\(ids)::int8[])))
                ORDER BY id FOR UPDATE
                """, logger: logger)
            for try await (id, connector, master, record, active, version) in rows.decode(
                (Int64, String, String?, String?, Bool, Int64?).self)
            {
                links[id] = LinkBook.Entry(
                    id: id, connector: connector, masterDealID: master, recordID: record, isActive: active,
                    masterVersion: version)
            }
        }
        if !links.isEmpty {
            for (link, fields) in try await FieldStateRecords.read(links: Array(links.keys), on: tx, logger: logger) {
                links[link]?.fields = fields
            }
        }
        var reserved: [Int64] = []
        if reserve > 0 {
            let rows = try await tx.query(
                "SELECT nextval('links_id_seq') FROM generate_series(1, \(reserve))", logger: logger)
            for try await id in rows.decode(Int64.self) { reserved.append(id) }
        }
        let holds = try await holds(of: keys, on: tx, logger: logger)
        return LinkBook(
            links: links.values.sorted { $0.id < $1.id }, reservedIDs: reserved, masterCreatesInFlight: inFlight, holds: holds)
    }

    /// The records of `keys` that onboarding left unlinked (never created on the other side).
    static func holds(of keys: Keys, on tx: PostgresConnection, logger: Logger) async throws -> [LinkBook.Hold] {
        let deals = Array(keys.deals), connectors = keys.records.map(\.connector), records = keys.records.map(\.recordID)
        guard !deals.isEmpty || !records.isEmpty else { return [] }
        let rows = try await tx.query(
            """
            SELECT connector, side, record_id, kind, reason FROM sync_holds WHERE side = 'master' AND record_id = ANY(\(deals))
            UNION ALL
            SELECT h.connector, h.side, h.record_id, h.kind, h.reason
            FROM unnest(\(connectors)::text[], \(records)::text[]) AS k(connector, record)
                JOIN sync_holds h ON h.side = 'crm' AND h.record_id = k.record AND h.connector = k.connector
            """, logger: logger)
        var holds: [LinkBook.Hold] = []
        for try await (connector, side, record, kind, reason) in rows.decode((String, String, String, String, String).self) {
            guard let side = Side(rawValue: side), let kind = LinkBook.Hold.Kind(rawValue: kind) else { continue }
            holds.append(.init(connector: connector, side: side, recordID: record, kind: kind, reason: reason))
        }
        return holds
    }

    /// Creates to MasterDeal that may have landed without their answer being recorded (in flight, or sent before
    /// and waiting for another attempt), of the accounts and names in `deals`: only those can match a deal seen.
    static func masterCreatesInFlight(
        to target: String, like deals: Set<Keys.ObservedDeal>, on tx: PostgresConnection, logger: Logger
    ) async throws -> [LinkBook.MasterCreateInFlight] {
        guard !deals.isEmpty else { return [] }
        let query = sentCreates(
            to: target, accounts: Array(Set(deals.map(\.account))), names: Array(Set(deals.compactMap(\.name))),
            anyName: deals.contains { $0.name == nil })
        let rows = try await tx.query(query, logger: logger)
        var creates: [LinkBook.MasterCreateInFlight] = []
        for try await (link, connector, record, account, name) in rows.decode((Int64, String, String?, String?, String?).self) {
            creates.append(
                .init(
                    linkID: link, connector: connector, recordID: record, account: account,
                    name: try name.map { try StoreJSON.decode(FieldValue.self, from: $0) }))
        }
        return creates
    }

    /// The statement that reads them, through `outbox_creates_sent`: a bulk import's creates waiting for their first
    /// try are never read (its predicate is the index's, word for word, so the planner can tell it serves it).
    package static func sentCreates(to target: String, accounts: [String], names: [String], anyName: Bool) -> PostgresQuery {
        """
        SELECT o.link_id, l.connector, l.record_id, o.payload #>> '{values,account_id,text}', (o.payload #> '{values,opportunity_name}')::text
        FROM outbox o JOIN links l ON l.id = o.link_id
        WHERE o.target = \(target) AND o.operation = 'create'
            AND (o.status = 'in_flight' OR (o.status = 'pending' AND o.attempts > 0))
            AND o.payload #>> '{values,account_id,text}' = ANY(\(accounts))
            AND (\(anyName) OR o.payload #>> '{values,opportunity_name,text}' = ANY(\(names)))
        ORDER BY o.id
        """
    }

    /// Writes every link of `book` that differs from `before` (new links, learnt ids, versions, field state),
    /// stamping `lineage` per link where given.
    static func save(_ book: LinkBook, before: LinkBook, lineages: [Int64: UUID], on tx: PostgresConnection, logger: Logger) async throws {
        var created: [LinkBook.Entry] = []
        var changed: [LinkBook.Entry] = []
        var states: [Int64: [String: FieldState]] = [:]
        for (id, link) in book.entries.sorted(by: { $0.key < $1.key }) {
            let old = before[id]
            // Compared once: a link's states are a few kilobytes, and a batch has hundreds of links.
            let fieldsChanged = link.fields != (old?.fields ?? [:])
            if fieldsChanged { states[id] = link.fields }
            if book.created.contains(id) {
                created.append(link)
            } else if let old,
                old.masterDealID != link.masterDealID || old.recordID != link.recordID || old.isActive != link.isActive
                    || old.masterVersion != link.masterVersion || fieldsChanged
            {
                changed.append(link)
            }
        }
        let noLineage = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        if !created.isEmpty {
            try await tx.query(
                """
                INSERT INTO links (id, connector, master_deal_id, record_id, state, master_version, last_lineage_id)
                SELECT id, connector, NULLIF(master, ''), NULLIF(record, ''), CASE WHEN active THEN 'active' ELSE 'unlinked' END,
                    NULLIF(version, -1), NULLIF(lineage, \(noLineage))
                FROM unnest(\(created.map(\.id)), \(created.map(\.connector)), \(created.map { $0.masterDealID ?? "" }),
                            \(created.map { $0.recordID ?? "" }), \(created.map(\.isActive)), \(created.map { $0.masterVersion ?? -1 }),
                            \(created.map { lineages[$0.id] ?? noLineage }))
                    AS t(id, connector, master, record, active, version, lineage)
                """, logger: logger)
        }
        if !changed.isEmpty {
            try await tx.query(
                """
                UPDATE links l SET master_deal_id = NULLIF(t.master, ''), record_id = NULLIF(t.record, ''),
                    state = CASE WHEN t.active THEN 'active' ELSE 'unlinked' END, master_version = NULLIF(t.version, -1),
                    last_lineage_id = coalesce(NULLIF(t.lineage, \(noLineage)), l.last_lineage_id), updated_at = now()
                FROM unnest(\(changed.map(\.id)), \(changed.map { $0.masterDealID ?? "" }), \(changed.map { $0.recordID ?? "" }),
                            \(changed.map(\.isActive)), \(changed.map { $0.masterVersion ?? -1 }), \(changed.map { lineages[$0.id] ?? noLineage }))
                    AS t(id, master, record, active, version, lineage)
                WHERE l.id = t.id
                """, logger: logger)
        }
        try await FieldStateRecords.save(states, on: tx, logger: logger)
    }
}
