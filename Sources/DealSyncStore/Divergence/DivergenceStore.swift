import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// One row of the divergence log, as the CLI and the demo read it.
public struct DivergenceRecord: Sendable, Equatable, Codable {
    public var id: Int64
    public var kind: String
    public var masterDealID: String?
    public var connector: String
    public var recordID: String?
    public var field: String?
    public var masterValue: FieldValue?
    public var crmValue: FieldValue?
    public var masterAt: Date?
    public var crmAt: Date?
    public var rule: String?
    public var winner: String?
    public var outcome: String
    public var lineageID: UUID?
    public var open: Bool
    public var closedAt: Date?
    public var createdAt: Date
    public var detail: [String: String]

    enum CodingKeys: String, CodingKey {
        case id, kind, masterDealID = "master_deal_id", connector, recordID = "record_id", field, masterValue = "master_value",
            crmValue = "crm_value", masterAt = "master_at", crmAt = "crm_at", rule, winner, outcome, lineageID = "lineage_id",
            open, closedAt = "closed_at", createdAt = "created_at", detail
    }
}

/// Reading the divergence log.
public struct DivergenceStore: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    public struct Filter: Sendable {
        public var kinds: [String]?
        public var connector: String?
        public var deal: String?
        public var field: String?
        public var openOnly = false
        /// Only entries made at or after / before these times.
        public var since: Date?
        public var until: Date?
        public var limit = 500
        /// With more matches than `limit`: the newest ones (still listed oldest first), not the oldest.
        public var newest = false

        public init(
            kinds: [String]? = nil, connector: String? = nil, deal: String? = nil, field: String? = nil, openOnly: Bool = false,
            since: Date? = nil, until: Date? = nil, limit: Int = 500, newest: Bool = false
        ) {
            self.kinds = kinds
            self.connector = connector
            self.deal = deal
            self.field = field
            self.openOnly = openOnly
            self.since = since
            self.until = until
            self.limit = limit
            self.newest = newest
        }
    }

    static let columns = """
        id, kind, master_deal_id, connector, record_id, field, master_value::text, crm_value::text, master_at, crm_at, rule,
        winner, outcome, lineage_id, open, closed_at, created_at, detail::text
        """

    public func list(_ filter: Filter) async throws -> [DivergenceRecord] {
        var conditions: [String] = []
        var binds = PostgresBindings()
        if let kinds = filter.kinds {
            binds.append(kinds)
            conditions.append("kind = ANY($\(binds.count))")
        }
        if let connector = filter.connector {
            binds.append(connector)
            conditions.append("connector = $\(binds.count)")
        }
        if let deal = filter.deal {
            binds.append(deal)
            conditions.append("master_deal_id = $\(binds.count)")
        }
        if let field = filter.field {
            binds.append(field)
            conditions.append("field = $\(binds.count)")
        }
        if let since = filter.since {
            binds.append(since)
            conditions.append("created_at >= $\(binds.count)")
        }
        if let until = filter.until {
            binds.append(until)
            conditions.append("created_at < $\(binds.count)")
        }
        if filter.openOnly { conditions.append("open") }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let order = filter.newest ? "DESC" : ""
        let records = try await read(
            PostgresQuery(
                unsafeSQL: "SELECT \(Self.columns) FROM divergence_log \(whereClause) ORDER BY id \(order) LIMIT \(filter.limit)",
                binds: binds))
        return filter.newest ? records.reversed() : records
    }

    public func get(_ id: Int64) async throws -> DivergenceRecord? {
        try await read("SELECT \(unescaped: Self.columns) FROM divergence_log WHERE id = \(id)").first
    }

    func read(_ query: PostgresQuery) async throws -> [DivergenceRecord] {
        let rows = try await database.client.query(query, logger: logger)
        var records: [DivergenceRecord] = []
        for try await row in rows {
            let c = Array(row)
            func value(_ index: Int) throws -> FieldValue? {
                guard let text = try c[index].decode(String?.self) else { return nil }
                return try? StoreJSON.decode(FieldValue.self, from: text)
            }
            records.append(
                DivergenceRecord(
                    id: try c[0].decode(Int64.self), kind: try c[1].decode(String.self), masterDealID: try c[2].decode(String?.self),
                    connector: try c[3].decode(String.self), recordID: try c[4].decode(String?.self), field: try c[5].decode(String?.self),
                    masterValue: try value(6), crmValue: try value(7), masterAt: try c[8].decode(Date?.self),
                    crmAt: try c[9].decode(Date?.self),
                    rule: try c[10].decode(String?.self), winner: try c[11].decode(String?.self), outcome: try c[12].decode(String.self),
                    lineageID: try c[13].decode(UUID?.self), open: try c[14].decode(Bool.self), closedAt: try c[15].decode(Date?.self),
                    createdAt: try c[16].decode(Date.self),
                    detail: (try? StoreJSON.decode([String: String].self, from: try c[17].decode(String.self))) ?? [:]))
        }
        return records
    }
}
