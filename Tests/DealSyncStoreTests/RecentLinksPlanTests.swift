import DealSyncStore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Testing

/// Every reconciler reads its connector's recently touched links every `recheck`: with many tenants in one
/// database it reads about its own links, not every tenant's.
struct RecentLinksPlanTests {
    typealias F = StoreFixtures

    @Test func aReconcilerReadsItsOwnConnectorsLinksNotEveryTenants() async throws {
        try await TestPostgres.withDatabase { database in
            // 99 other tenants of 300 links each, and this one's 300, a third of them touched a minute ago.
            _ = try await database.client.query(
                """
                INSERT INTO links (connector, master_deal_id, record_id, updated_at)
                SELECT 'tenant-' || (g % 100), 'deal-' || g, 'lead-' || g,
                    now() - CASE WHEN g % 3 = 0 THEN interval '1 minute' ELSE interval '2 hours' END
                FROM generate_series(1, 30000) AS g
                """)
            // A link waiting for its record (a create in flight) has nothing to compare yet.
            _ = try await database.client.query("INSERT INTO links (connector, master_deal_id) VALUES ('tenant-7', 'deal-new')")
            _ = try await database.client.query("ANALYZE links")
            #expect(try await F.count("links", where: "connector = 'tenant-7'", in: database) == 301)

            let query = LinkReader.recentlyChangedQuery(connector: "tenant-7", within: .seconds(900))
            let plan = try await F.analyzedPlan(of: query, in: database)
            #expect(plan.first?["Actual Rows"] as? NSNumber == 100, "the connector's recently touched pairs")
            let read = F.rowsRead(from: "links", in: plan)
            #expect(read > 0 && read <= 600, "links read for the connector's 300: \(read)")

            let reader = LinkReader(database: database, logger: TestPostgres.logger)
            let recent = try await reader.recentlyChanged(connector: "tenant-7", within: .seconds(900))
            #expect(recent.count == 100)
            #expect(recent.allSatisfy { $0.connector == "tenant-7" && $0.recordID != nil && $0.masterDealID != nil })

            // A sweep reads every pair of the connector, and no link still waiting for its record.
            let pairs = try await reader.all(connector: "tenant-7", pairsOnly: true)
            #expect(pairs.count == 300)
            #expect(pairs.allSatisfy { $0.connector == "tenant-7" && $0.recordID != nil && $0.masterDealID != nil })
            #expect(try await reader.all(connector: "tenant-7").count == 301)
        }
    }
}
