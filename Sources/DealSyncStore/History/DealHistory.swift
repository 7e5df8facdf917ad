import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// Reads everything stored about one deal for `dealsync history`: its links and field state, the inbox rows
/// that observed its records, the writes made for it with every attempt, dead letters and their replays, its
/// divergence entries and the support actions taken on them. Read-only: every statement is a `SELECT`.
///
/// Rows are returned raw; turning them into a timeline (decoding inbox bodies, masking personal values) is the
/// caller's job, since only the connectors know their payloads.
public struct DealHistory: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    /// At most this many inbox rows are found by searching bodies for a record's id (newest first); rows that
    /// share a lineage id with the deal's writes or divergence entries are always found.
    public static let inboxScanLimit = 2_000

    /// Who a history is about: a MasterDeal deal and the CRM records linked to it.
    public struct Subject: Sendable, Equatable {
        public var masterDealID: String?
        public var links: [Link]

        /// The (connector, record id) pairs that stand for the deal, the MasterDeal deal first.
        public func records(masterConnector: String) -> [(connector: String, recordID: String)] {
            var pairs: [(String, String)] = masterDealID.map { [(masterConnector, $0)] } ?? []
            for link in links {
                if let record = link.recordID, !pairs.contains(where: { $0 == (link.connector, record) }) {
                    pairs.append((link.connector, record))
                }
            }
            return pairs
        }
    }

    // MARK: Finding the deal

    /// The deal with this MasterDeal id, or `nil` when dealsync has nothing stored about it.
    public func subject(masterDealID: String) async throws -> Subject? {
        let links = try await links(where: "master_deal_id = $1", masterDealID)
        if !links.isEmpty { return Subject(masterDealID: masterDealID, links: links) }
        let rows = try await database.client.query(
            """
            SELECT (EXISTS (SELECT 1 FROM divergence_log WHERE master_deal_id = \(masterDealID))
                OR EXISTS (SELECT 1 FROM outbox WHERE master_deal_id = \(masterDealID)))
            """, logger: logger)
        for try await known in rows.decode(Bool.self) where known { return Subject(masterDealID: masterDealID, links: []) }
        return nil
    }

    /// The deal a CRM record is (or was) linked to, with all its links; the record alone when it never had a
    /// deal; `nil` when dealsync never linked it.
    public func subject(connector: String, recordID: String) async throws -> Subject? {
        guard let link = try await links(where: "connector = $1 AND record_id = $2", connector, recordID).first else { return nil }
        guard let deal = link.masterDealID else { return Subject(masterDealID: nil, links: [link]) }
        return try await subject(masterDealID: deal)
    }

    private func links(where condition: String, _ values: String...) async throws -> [Link] {
        var binds = PostgresBindings()
        for value in values { binds.append(value) }
        let rows = try await database.client.query(
            PostgresQuery(
                unsafeSQL: """
                    SELECT id, connector, master_deal_id, record_id, state, last_lineage_id, created_at, updated_at
                    FROM links WHERE \(condition) ORDER BY id
                    """, binds: binds), logger: logger)
        var links: [Link] = []
        for try await (id, connector, deal, record, state, lineage, created, updated) in rows.decode(
            (Int64, String, String?, String?, String, UUID?, Date, Date).self)
        {
            links.append(
                Link(
                    id: id, connector: connector, masterDealID: deal, recordID: record, state: state, lastLineageID: lineage,
                    createdAt: created, updatedAt: updated))
        }
        return links
    }

    // MARK: Reading everything

    /// Everything stored about `subject`. `since` bounds the search of inbox bodies only; the caller filters
    /// the timeline itself.
    public func read(_ subject: Subject, masterConnector: String, since: Date? = nil) async throws -> Records {
        let linkIDs = subject.links.map(\.id)
        let deal = subject.masterDealID ?? ""
        let outbox = try await outbox(links: linkIDs, deal: deal)
        let deadLetters = try await DeadLetterStore.read(
            """
            SELECT \(unescaped: DeadLetterStore.columns) FROM dead_letters
            WHERE outbox_id = ANY(\(outbox.map(\.id))) OR master_deal_id = \(deal) ORDER BY id
            """, on: database, logger: logger)
        let pairs = subject.links.compactMap { link in link.recordID.map { (link.connector, $0) } }
        let divergence = try await DivergenceStore(database: database, logger: logger).read(
            """
            SELECT \(unescaped: DivergenceStore.columns) FROM divergence_log
            WHERE master_deal_id = \(deal)
               OR (connector, record_id) IN (SELECT * FROM unnest(\(pairs.map(\.0)), \(pairs.map(\.1))))
            ORDER BY id
            """)
        let targets = deadLetters.map { "dead_letter:\($0.id)" } + divergence.map { "drift:\($0.id)" }
        let audit = try await audit(targets: targets)
        var lineages = Set(outbox.map(\.lineageID))
        lineages.formUnion(deadLetters.map(\.lineageID))
        lineages.formUnion(divergence.compactMap(\.lineageID))
        lineages.formUnion(subject.links.compactMap(\.lastLineageID))
        let records = subject.records(masterConnector: masterConnector)
        let (inbox, truncated) = try await inbox(
            lineages: Array(lineages), ids: outbox.compactMap(\.inboxID), records: records, since: since)
        return Records(
            links: subject.links, fieldStates: try await fieldStates(links: linkIDs), inbox: inbox, outbox: outbox,
            deadLetters: deadLetters, divergence: divergence, audit: audit, inboxScanTruncated: truncated)
    }

    private func fieldStates(links: [Int64]) async throws -> [FieldStateRow] {
        let rows = try await database.client.query(
            "SELECT link_id, states, updated_at FROM link_fields WHERE link_id = ANY(\(links)) ORDER BY link_id", logger: logger)
        var states: [FieldStateRow] = []
        for try await (link, text, updated) in rows.decode((Int64, String, Date).self) {
            guard let fields = try? FieldState.states(jsonText: text) else { continue }
            for (field, state) in fields.sorted(by: { $0.key < $1.key }) {
                states.append(FieldStateRow(linkID: link, field: field, state: state, updatedAt: updated))
            }
        }
        return states
    }

    private func outbox(links: [Int64], deal: String) async throws -> [OutboxEntry] {
        let rows = try await database.client.query(
            """
            SELECT id, target, record_key, link_id, master_deal_id, operation, payload::text, idempotency_key, lineage_id,
                inbox_id, status, attempt_log::text, replay_count, created_at, updated_at, done_at
            FROM outbox WHERE link_id = ANY(\(links)) OR master_deal_id = \(deal) ORDER BY id
            """, logger: logger)
        var entries: [OutboxEntry] = []
        for try await row in rows {
            let c = Array(row)
            entries.append(
                OutboxEntry(
                    id: try c[0].decode(Int64.self), target: try c[1].decode(String.self), recordKey: try c[2].decode(String.self),
                    linkID: try c[3].decode(Int64?.self), masterDealID: try c[4].decode(String?.self),
                    operation: try c[5].decode(String.self),
                    values: (try? OutboxPayload(jsonText: try c[6].decode(String.self)).values) ?? [:],
                    idempotencyKey: try c[7].decode(String.self), lineageID: try c[8].decode(UUID.self),
                    inboxID: try c[9].decode(Int64?.self),
                    status: try c[10].decode(String.self),
                    attempts: (try? DeadLetterStore.decodeAttempts(try c[11].decode(String.self))) ?? [],
                    replayCount: try c[12].decode(Int.self), createdAt: try c[13].decode(Date.self), updatedAt: try c[14].decode(Date.self),
                    doneAt: try c[15].decode(Date?.self)))
        }
        return entries
    }

    private func audit(targets: [String]) async throws -> [AuditEntry] {
        guard !targets.isEmpty else { return [] }
        let rows = try await database.client.query(
            "SELECT id, at, actor, action, target, reason, details::text FROM audit_log WHERE target = ANY(\(targets)) ORDER BY id",
            logger: logger)
        var entries: [AuditEntry] = []
        for try await (id, at, actor, action, target, reason, details) in rows.decode(
            (Int64, Date, String, String, String?, String?, String).self)
        {
            entries.append(
                AuditEntry(
                    id: id, at: at, actor: actor, action: action, target: target, reason: reason,
                    details: (try? StoreJSON.decode([String: String].self, from: details)) ?? [:]))
        }
        return entries
    }

    static let inboxColumns = """
        id, connector, dedupe_key, source, received_at, status, processed_at, error, lineage_id, headers::text, content_type, body
        """

    /// The inbox rows that share a lineage with the deal's writes and entries, and the newest rows of the deal's
    /// connectors whose body names one of its records (the caller decodes them and keeps what is about the deal).
    private func inbox(
        lineages: [UUID], ids: [Int64], records: [(connector: String, recordID: String)],
        since: Date?
    ) async throws -> ([InboxEntry], Bool) {
        var found = try await readInbox(
            "SELECT \(unescaped: Self.inboxColumns) FROM inbox WHERE lineage_id = ANY(\(lineages)) OR id = ANY(\(ids))")
        guard !records.isEmpty else { return (found, false) }
        let scanned = try await readInbox(
            """
            SELECT \(unescaped: Self.inboxColumns) FROM inbox i
            WHERE (\(since)::timestamptz IS NULL OR i.received_at >= \(since))
              AND EXISTS (SELECT 1 FROM unnest(\(records.map(\.connector)), \(records.map(\.recordID))) AS k(connector, needle)
                          WHERE k.connector = i.connector AND position(convert_to(k.needle, 'UTF8') IN i.body) > 0)
            ORDER BY i.id DESC LIMIT \(Self.inboxScanLimit)
            """)
        let known = Set(found.map(\.id))
        found += scanned.filter { !known.contains($0.id) }
        return (found.sorted { $0.id < $1.id }, scanned.count >= Self.inboxScanLimit)
    }

    private func readInbox(_ query: PostgresQuery) async throws -> [InboxEntry] {
        let rows = try await database.client.query(query, logger: logger)
        var entries: [InboxEntry] = []
        for try await row in rows {
            let c = Array(row)
            entries.append(
                InboxEntry(
                    id: try c[0].decode(Int64.self), connector: try c[1].decode(String.self), dedupeKey: try c[2].decode(String.self),
                    source: try c[3].decode(String.self), receivedAt: try c[4].decode(Date.self), status: try c[5].decode(String.self),
                    processedAt: try c[6].decode(Date?.self), error: try c[7].decode(String?.self), lineageID: try c[8].decode(UUID.self),
                    headers: (try? StoreJSON.decode([String: String].self, from: try c[9].decode(String.self))) ?? [:],
                    contentType: try c[10].decode(String?.self), body: try c[11].decode(Data.self)))
        }
        return entries
    }
}
