import DealSyncTestSupport
import Foundation
import PostgresNIO
import Testing

@testable import DealSyncStore

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

    /// Preparing the statement saves its planning only when its generic plan is used: left to choose, PostgreSQL
    /// planned every batch afresh (12 custom plans of 12 for batches of one row).
    @Test func everySavingTransactionRunsTheKeptGenericPlan() async throws {
        try await TestPostgres.withDatabase { database in
            try await database.client.withConnection { connection in
                for batch in 0..<12 {
                    _ = try await connection.query("BEGIN", logger: TestPostgres.logger)
                    _ = try await connection.query(
                        PostgresQuery(unsafeSQL: "SELECT " + KeyedPlanning.settings), logger: TestPostgres.logger)
                    var statuses = InboxClaims.Statuses()
                    statuses.finish(Int64(1000 + batch), .processed, error: nil)
                    try await DecisionRecords.write(
                        links: .init(), rows: .init(),
                        statuses: .init(statuses: statuses, fetchLease: 30, worker: "host:1", maxAttempts: 10),
                        on: connection, logger: TestPostgres.logger)
                    _ = try await connection.query("COMMIT", logger: TestPostgres.logger)
                }
                let rows = try await connection.query(
                    "SELECT name, generic_plans, custom_plans FROM pg_prepared_statements", logger: TestPostgres.logger)
                var plans: [String: (generic: Int64, custom: Int64)] = [:]
                for try await (name, generic, custom) in rows.decode((String, Int64, Int64).self) { plans[name] = (generic, custom) }
                #expect(plans.count == 1, "\(plans)")
                #expect(plans[DecisionRecords.Save.name]?.generic == 12 && plans[DecisionRecords.Save.name]?.custom == 0, "\(plans)")
            }
        }
    }

    /// The generic plan of ``DecisionRecords/Save`` on a new database, made in a transaction that starts with
    /// ``KeyedPlanning`` when `settings`.
    static func genericPlan(settings: Bool) async throws -> [String] {
        try await TestPostgres.withDatabase { database in
            try await database.client.withConnection { connection in
                _ = try await connection.query("BEGIN", logger: TestPostgres.logger)
                if settings {
                    _ = try await connection.query(
                        PostgresQuery(unsafeSQL: "SELECT " + KeyedPlanning.settings), logger: TestPostgres.logger)
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
