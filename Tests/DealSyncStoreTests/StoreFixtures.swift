import DealSyncCore
import DealSyncStore
import DealSyncTestSupport
import Foundation
import Logging
import PostgresNIO
import Testing

/// A tour-agency setup and helpers that store observations as JSON inbox rows.
enum StoreFixtures {
    static let mapping = Mapping(
        name: "tour", crm: .amocrm, pipeline: 700, linkField: "custom_fields.900001",
        fields: [
            FieldMapping(name: "title", master: "opportunity_name", crm: "name", conflict: .lww),
            FieldMapping(name: "stage", master: "stage", crm: "status", transform: .stage, conflict: .priority(.master)),
        ],
        stages: StageMatrix(entries: [
            .init(canonical: "lead", crm: [.init(key: "700:1")]),
            .init(canonical: "won", crm: [.init(key: "700:142")]),
        ]),
        owners: OwnerDirectory(entries: []))

    static let setup = setup(mapping)

    /// The tour lane of account `acc-tour` deciding by `mapping`, publishing to `decisionFeed` when given.
    static func setup(_ mapping: Mapping, decisionFeed: String? = nil) -> SyncSetup {
        SyncSetup(
            masterConnector: "masterdeal",
            lanes: [
                .init(
                    connector: "tour", decider: RecordDecider(mapping: mapping, crmConnector: "tour", masterConnector: "masterdeal"),
                    masterAccount: "acc-tour")
            ], decisionFeed: decisionFeed)
    }

    /// The test decoder: inbox bodies are JSON arrays of observations.
    static let decode: InboxProcessor.Decoder = { row in
        .observations(try JSONDecoder().decode([Observation].self, from: row.item.body))
    }

    static func item(_ observations: [Observation], key: String, connector: String? = nil) throws -> InboxItem {
        InboxItem(
            connector: connector ?? observations[0].connector, dedupeKey: key, source: .webhook,
            contentType: "application/json", body: try JSONEncoder().encode(observations))
    }

    static func deal(_ id: String = "md-1", title: String, stage: String = "lead", at seconds: Int64, version: Int64) -> Observation {
        Observation(
            connector: "masterdeal", side: .master, recordID: id,
            fields: ["opportunity_name": .text(title), "stage": .text(stage)],
            stamp: SourceStamp(seconds: seconds, version: version), account: "acc-tour")
    }

    static func lead(_ id: String = "9001", title: String, status: Int64 = 1, at seconds: Int64, master: String? = "md-1") -> Observation {
        Observation(
            connector: "tour", side: .crm, recordID: id,
            fields: ["name": .text(title), "status": .text("700:\(status)")],
            stamp: SourceStamp(seconds: seconds), linkedMasterID: master)
    }

    /// Processes every due row.
    @discardableResult
    static func drain(_ processor: InboxProcessor) async throws -> [InboxProcessor.Step] {
        var steps: [InboxProcessor.Step] = []
        while true {
            let step = try await processor.processNext(decode: decode)
            if step == .idle { return steps }
            steps.append(step)
        }
    }

    static func count(_ table: String, where condition: String = "true", in database: Database) async throws -> Int {
        let rows = try await database.client.query(PostgresQuery(unsafeSQL: "SELECT count(*)::int8 FROM \(table) WHERE \(condition)"))
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    /// How many rows of `table` PostgreSQL read to run `query` (returned or filtered out, over every loop), from
    /// `EXPLAIN (ANALYZE, FORMAT JSON)`: what an index saves, whatever plan the table's size leads to.
    static func rowsRead(from table: String, by query: PostgresQuery, in database: Database) async throws -> Int {
        rowsRead(from: table, in: try await analyzedPlan(of: query, in: database))
    }

    /// Every node of the plan PostgreSQL ran `query` with, in a transaction that first runs `setup` (the settings the
    /// statement runs with in its own transaction), rolled back afterwards.
    static func analyzedPlan(of query: PostgresQuery, after setup: PostgresQuery, in database: Database) async throws -> [[String: Any]] {
        try await database.client.withConnection { connection in
            _ = try await connection.query("BEGIN", logger: TestPostgres.logger)
            _ = try await connection.query(setup, logger: TestPostgres.logger)
            let plan = try await analyzedPlan(of: query, on: connection)
            _ = try await connection.query("ROLLBACK", logger: TestPostgres.logger)
            return plan
        }
    }

    static func rowsRead(from table: String, in plan: [[String: Any]]) -> Int {
        plan.filter { $0["Relation Name"] as? String == table }.reduce(0) { count, node in
            let returned = (node["Actual Rows"] as? NSNumber)?.doubleValue ?? 0
            let removed = ["Rows Removed by Filter", "Rows Removed by Index Recheck"].reduce(0.0) {
                $0 + ((node[$1] as? NSNumber)?.doubleValue ?? 0)
            }
            return count + Int(((returned + removed) * ((node["Actual Loops"] as? NSNumber)?.doubleValue ?? 1)).rounded())
        }
    }

    /// Every node of the plan PostgreSQL ran `query` with (`EXPLAIN (ANALYZE, FORMAT JSON)`, which runs it), the
    /// root first.
    static func analyzedPlan(of query: PostgresQuery, in database: Database) async throws -> [[String: Any]] {
        try await database.client.withConnection { try await analyzedPlan(of: query, on: $0) }
    }

    static func analyzedPlan(of query: PostgresQuery, on connection: PostgresConnection) async throws -> [[String: Any]] {
        let rows = try await connection.query(
            PostgresQuery(unsafeSQL: "EXPLAIN (ANALYZE, FORMAT JSON) " + query.sql, binds: query.binds), logger: TestPostgres.logger)
        var text = ""
        for try await line in rows.decode(String.self) { text += line }
        let document = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
        var nodes: [[String: Any]] = []
        func visit(_ node: [String: Any]) {
            nodes.append(node)
            for child in node["Plans"] as? [[String: Any]] ?? [] { visit(child) }
        }
        visit(try #require(document.first?["Plan"] as? [String: Any]))
        return nodes
    }
}
