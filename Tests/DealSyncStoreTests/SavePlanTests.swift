import DealSyncStore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Testing

/// The statement that saves decisions is prepared once per connection and its generic plan is kept for every
/// transaction after. Made on a young database (empty tables, no statistics: the worst case), that plan must still
/// reach every row it writes by a key, so that it stays right once the inbox and the outbox hold hundreds of
/// thousands of rows.
struct SavePlanTests {
    let logger = TestPostgres.logger

    @Test func theGenericPlanMadeOnAnEmptyDatabaseReachesEveryRowByAKey() async throws {
        let plan = try await Self.genericPlan(settings: true)
        #expect(plan.count > 40, "\(plan)")
        #expect(plan.contains { $0.contains("Insert on links") } && plan.contains { $0.contains("Insert on dead_letters") })
        #expect(!plan.contains { $0.contains("Seq Scan") || $0.contains("Bitmap") }, "\(plan.joined(separator: "\n"))")
        let scans = plan.indices.filter { plan[$0].contains(" Scan using ") }
        #expect(scans.count >= 10, "\(plan.joined(separator: "\n"))")
        for index in scans {
            let next = index + 1 < plan.count ? plan[index + 1] : ""
            #expect(next.contains("Index Cond"), "a scan without a key: \(plan[index])\n\(plan.joined(separator: "\n"))")
        }
        // The writes that follow a deal and the writes cancelled are found link by link.
        let byLink = scans.filter { plan[$0].contains("outbox_by_link") }
        #expect(byLink.count == 2, "\(plan.joined(separator: "\n"))")
        #expect(byLink.allSatisfy { plan[$0 + 1].contains("link_id = ") })
    }

    /// What the settings are for: without them the same plan reads the inbox and the outbox whole.
    @Test func withoutTheTransactionsPlanningTheGenericPlanReadsTablesWhole() async throws {
        let plan = try await Self.genericPlan(settings: false)
        #expect(plan.count > 40, "\(plan)")
        #expect(plan.contains { $0.contains("Seq Scan on inbox") || $0.contains("Seq Scan on outbox") }, "\(plan.joined(separator: "\n"))")
    }

    /// The generic plan of ``DecisionRecords/Save`` on a new database, made in a transaction that starts with
    /// ``DecisionRecords/keyedPlanning`` when `settings`.
    static func genericPlan(settings: Bool) async throws -> [String] {
        try await TestPostgres.withDatabase { database in
            try await database.client.withConnection { connection in
                _ = try await connection.query("BEGIN", logger: TestPostgres.logger)
                if settings {
                    _ = try await connection.query(
                        PostgresQuery(unsafeSQL: "SELECT " + DecisionRecords.keyedPlanning), logger: TestPostgres.logger)
                }
                _ = try await connection.query("SET LOCAL plan_cache_mode = force_generic_plan", logger: TestPostgres.logger)
                _ = try await connection.query(
                    PostgresQuery(unsafeSQL: "PREPARE save AS " + DecisionRecords.Save.sql), logger: TestPostgres.logger)
                let parameters = DecisionRecords.Save.sql.matches(of: /\$[0-9]+/).count
                let nulls = Array(repeating: "NULL", count: parameters).joined(separator: ", ")
                let rows = try await connection.query(
                    PostgresQuery(unsafeSQL: "EXPLAIN EXECUTE save(\(nulls))"), logger: TestPostgres.logger)
                var plan: [String] = []
                for try await line in rows.decode(String.self) { plan.append(line) }
                _ = try await connection.query("ROLLBACK", logger: TestPostgres.logger)
                return plan
            }
        }
    }
}
