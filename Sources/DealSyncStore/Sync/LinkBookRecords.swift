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

    /// Takes the advisory locks of `names` in one statement, in a fixed order so two batches never deadlock, and
    /// sets the transaction's planning for the decisions it saves (``KeyedPlanning``): sent even
    /// without names, for that. Its row is read: PostgresNIO reports a statement's failure (a lock wait cancelled
    /// by the statement timeout, a deadlock) only to whoever reads its rows, and unread it would surface as the next
    /// statement's "current transaction is aborted".
    static func lock(_ names: [String], on tx: PostgresConnection, logger: Logger) async throws {
        try await tx.run(Lock.self, lockQuery(names), logger: logger)
    }

    static func lockQuery(_ names: [String]) -> PostgresQuery {
        """
        SELECT \(unescaped: KeyedPlanning.settings), (SELECT count(pg_advisory_xact_lock(key)) FROM (
            SELECT DISTINCT hashtextextended(name, 7) AS key FROM unnest(\(names)::text[]) AS name ORDER BY 1
        ) AS ordered)
        """
    }

    enum Lock: KeptStatement {
        static let name = "dealsync_lock_keys"
        static let sql = lockQuery([]).sql
    }

    /// Reads (and row-locks) every link of `keys` and their field state, and reserves `reserve` ids for links
    /// the batch may create. When deals are observed, the creates in flight to `masterTarget` are read first: a
    /// create confirmed after that read is then seen in its link, one confirmed before it is no longer in flight.
    /// Without `holds`, onboarding's holds are not read: a session that only applies decisions to links it has
    /// (a relay round's outcomes) never asks whether a record may be linked.
    static func load(
        _ keys: Keys, reserve: Int, holds readHolds: Bool = true, masterTarget: String, memo: FieldStateMemo, on tx: PostgresConnection,
        logger: Logger
    ) async throws -> LinkBook {
        let inFlight = try await masterCreatesInFlight(to: masterTarget, like: keys.observedDeals, on: tx, logger: logger)
        var links: [Int64: LinkBook.Entry] = [:]
        let deals = Array(keys.deals), connectors = keys.records.map(\.connector), records = keys.records.map(\.recordID)
        let ids = Array(keys.linkIDs)
        if !deals.isEmpty || !records.isEmpty || !ids.isEmpty {
            // The links and their field state in one statement (one round trip fewer per transaction that decides):
            // only the links are locked, and every writer of a link's state holds its link's lock.
            let rows = try await tx.query(
                Links.self, linksQuery(deals: deals, connectors: connectors, records: records, ids: ids), logger: logger)
            for try await (id, connector, master, record, active, version, states) in rows.decode(
                (Int64, String, String?, String?, Bool, Int64?, String?).self)
            {
                links[id] = LinkBook.Entry(
                    id: id, connector: connector, masterDealID: master, recordID: record, isActive: active,
                    masterVersion: version,
                    fields: try states.map { (text) throws(JSONShapeError) in try memo.states(link: id, text: text) } ?? [:])
            }
        }
        let (holds, reserved) = try await holds(of: readHolds ? keys : Keys(), reserving: reserve, on: tx, logger: logger)
        return LinkBook(
            links: links.values.sorted { $0.id < $1.id }, reservedIDs: reserved, masterCreatesInFlight: inFlight, holds: holds)
    }

    /// The statement that reads (and row-locks) the links of deals, of CRM records and by id, with their field state.
    static func linksQuery(deals: [String], connectors: [String], records: [String], ids: [Int64]) -> PostgresQuery {
        """
        SELECT l.id, l.connector, l.master_deal_id, l.record_id, l.state = 'active', l.master_version, f.states
        FROM links l LEFT JOIN link_fields f ON f.link_id = l.id
        WHERE l.id = ANY(ARRAY(
            SELECT id FROM links WHERE master_deal_id = ANY(\(deals)::text[])
            UNION ALL
            SELECT l.id FROM unnest(\(connectors)::text[], \(records)::text[]) AS k(connector, record)
                JOIN links l ON l.connector = k.connector AND l.record_id = k.record
            UNION ALL
            SELECT unnest(\(ids)::int8[])))
        ORDER BY l.id FOR UPDATE OF l
        """
    }

    enum Links: KeptStatement {
        static let name = "dealsync_load_links"
        static let sql = linksQuery(deals: [], connectors: [], records: [], ids: []).sql
    }

    /// The records of `keys` that onboarding left unlinked (never created on the other side), and `reserve` new
    /// link ids, in one statement (both are wanted by most batches that may create links).
    static func holds(
        of keys: Keys, reserving reserve: Int, on tx: PostgresConnection, logger: Logger
    ) async throws -> (holds: [LinkBook.Hold], ids: [Int64]) {
        let deals = Array(keys.deals), connectors = keys.records.map(\.connector), records = keys.records.map(\.recordID)
        guard !deals.isEmpty || !records.isEmpty || reserve > 0 else { return ([], []) }
        let rows = try await tx.query(
            Holds.self, holdsQuery(deals: deals, connectors: connectors, records: records, reserve: reserve), logger: logger)
        var holds: [LinkBook.Hold] = []
        var ids: [Int64] = []
        for try await (connector, side, record, kind, reason, id) in rows.decode((String?, String?, String?, String?, String?, Int64?).self)
        {
            if let id { ids.append(id) }
            guard let connector, let record, let reason, let side = side.flatMap(Side.init(rawValue:)),
                let kind = kind.flatMap(LinkBook.Hold.Kind.init(rawValue:))
            else { continue }
            holds.append(.init(connector: connector, side: side, recordID: record, kind: kind, reason: reason))
        }
        return (holds, ids)
    }

    static func holdsQuery(deals: [String], connectors: [String], records: [String], reserve: Int) -> PostgresQuery {
        """
        SELECT connector, side, record_id, kind, reason, NULL::int8 FROM sync_holds
        WHERE side = 'master' AND record_id = ANY(\(deals)::text[])
        UNION ALL
        SELECT h.connector, h.side, h.record_id, h.kind, h.reason, NULL
        FROM unnest(\(connectors)::text[], \(records)::text[]) AS k(connector, record)
            JOIN sync_holds h ON h.side = 'crm' AND h.record_id = k.record AND h.connector = k.connector
        UNION ALL
        SELECT NULL, NULL, NULL, NULL, NULL, nextval('links_id_seq') FROM generate_series(1, \(reserve)::int8)
        """
    }

    enum Holds: KeptStatement {
        static let name = "dealsync_holds_and_ids"
        static let sql = holdsQuery(deals: [], connectors: [], records: [], reserve: 0).sql
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
        let rows = try await tx.query(SentCreates.self, query, logger: logger)
        var creates: [LinkBook.MasterCreateInFlight] = []
        for try await (link, connector, record, account, name) in rows.decode((Int64, String, String?, String?, String?).self) {
            creates.append(
                .init(
                    linkID: link, connector: connector, recordID: record, account: account,
                    name: try name.map { try StoreJSON.decode(FieldValue.self, from: $0) }))
        }
        return creates
    }

    /// The statement that reads them, through `outbox_sent_creates` (the writes whose `create_sent` is true, see
    /// ``Migration/v10WriteFacts``): a bulk import's creates waiting for their first try, and the ones done, are never
    /// read.
    package static func sentCreates(to target: String, accounts: [String], names: [String], anyName: Bool) -> PostgresQuery {
        """
        SELECT o.link_id, l.connector, l.record_id, o.payload #>> '{values,account_id,text}', (o.payload #> '{values,opportunity_name}')::text
        FROM outbox o JOIN links l ON l.id = o.link_id
        WHERE o.target = \(target) AND o.create_sent
            AND o.payload #>> '{values,account_id,text}' = ANY(\(accounts))
            AND (\(anyName) OR o.payload #>> '{values,opportunity_name,text}' = ANY(\(names)))
        ORDER BY o.id
        """
    }

    enum SentCreates: KeptStatement {
        static let name = "dealsync_sent_creates"
        static let sql = sentCreates(to: "", accounts: [], names: [], anyName: false).sql
    }

    /// What a session changed in its links, as the columns ``DecisionRecords`` writes: new links, links whose ids,
    /// state or version changed, and the field states to write back (each link's whole document).
    struct Changes {
        var created = Columns()
        var changed = Columns()
        var states: (links: [Int64], texts: [String]) = ([], [])

        /// Links as arrays, one per column; an absent id, record or version is written as `''` / `-1`, an absent
        /// lineage as the nil UUID (the statement turns them back into NULL).
        struct Columns {
            var ids: [Int64] = []
            var connectors: [String] = []
            var deals: [String] = []
            var records: [String] = []
            var active: [Bool] = []
            var versions: [Int64] = []
            var lineages: [UUID] = []

            mutating func append(_ link: LinkBook.Entry, lineage: UUID?) {
                ids.append(link.id)
                connectors.append(link.connector)
                deals.append(link.masterDealID ?? "")
                records.append(link.recordID ?? "")
                active.append(link.isActive)
                versions.append(link.masterVersion ?? -1)
                lineages.append(lineage ?? Changes.noLineage)
            }
        }

        static let noLineage = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))

        var isEmpty: Bool { created.ids.isEmpty && changed.ids.isEmpty && states.links.isEmpty }
    }

    /// Every link of `book` that differs from `before` (new links, learnt ids, versions, field state), stamped with
    /// `lineage` per link where given.
    static func changes(_ book: LinkBook, before: LinkBook, lineages: [Int64: UUID]) -> Changes {
        var changes = Changes()
        for (id, link) in book.entries.sorted(by: { $0.key < $1.key }) {
            let old = before[id]
            // Compared once: a link's states are a few kilobytes, and a batch has hundreds of links.
            let fieldsChanged = link.fields != (old?.fields ?? [:])
            if fieldsChanged {
                changes.states.links.append(id)
                changes.states.texts.append(FieldState.jsonText(of: link.fields))
            }
            if book.created.contains(id) {
                changes.created.append(link, lineage: lineages[id])
            } else if let old,
                old.masterDealID != link.masterDealID || old.recordID != link.recordID || old.isActive != link.isActive
                    || old.masterVersion != link.masterVersion || fieldsChanged
            {
                changes.changed.append(link, lineage: lineages[id])
            }
        }
        return changes
    }
}
