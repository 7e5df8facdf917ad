import AsyncHTTPClient
import DealSyncCore
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Testing

@Suite(.serialized)
struct MasterDealToAmoCRMTests {
    @Test func aDealCreatedInMasterDealAppearsInAmoCRMAndAStageChangeComesBack() async throws {
        try await SyncSystem.run { system in
            let deal = try system.masterDeal.createAsUser(
                .object([
                    "account_id": .string("acc-tour"), "opportunity_name": .string("Сочи, 7 ночей"), "stage": .string("lead"),
                    "amount": .string("150000.50"), "currency": .string("RUB"), "owner_id": .string("u-olga"),
                    "attributes": .object(["tour_type": .string("beach")]),
                ]))
            try await system.eventually("the lead exists in amoCRM") {
                system.amo.allLeads(includingDeleted: false).contains { $0.name == "Сочи, 7 ночей" }
            }
            let lead = try #require(system.amo.allLeads(includingDeleted: false).first { $0.name == "Сочи, 7 ночей" })
            #expect(lead.price == 150_001)
            #expect(lead.statusID == 7_001_001)
            #expect(lead.responsibleUserID == 6_001_001)
            #expect(lead.values(ofField: 900_001) == [deal.id], "master_deal_id is written into the link field")
            #expect(lead.values(ofField: 900_004) == ["beach"])

            // A salesperson moves the lead; MasterDeal follows. The move comes a second after dealsync's writes on
            // amoCRM's clock: amoCRM counts whole seconds, and within the second of our write an edit cannot be told
            // from a concurrent one (stage is MasterDeal's by priority, so it would be written back).
            system.amo.advanceClock(bySeconds: 1)
            let started = ContinuousClock.now
            _ = try system.amo.editAsSalesperson(
                leadID: lead.id, userID: 6_001_002, AmoLeadFields(statusID: 7_001_004, pipelineID: 7_001_000))
            do {
                try await system.eventually("MasterDeal's deal reaches proposal") {
                    system.masterDeal.deal(id: deal.id)?.stage == "proposal"
                }
            } catch {
                print(try await system.dump())
                throw error
            }
            print("stage round trip took", started.duration(to: .now))
            #expect(system.amo.allLeads(includingDeleted: true).count == 1, "no duplicate leads")
            // No ping-pong: MasterDeal's event for dealsync's own write (the echo) is decided, and it causes no write
            // to either side. Proof it ran first: its inbox row is processed and nothing is waiting anywhere.
            let version = try #require(system.masterDeal.deal(id: deal.id)?.version)
            let masterWrites = system.masterDeal.stats.writesApplied
            try await system.eventually("the echo of the stage write is decided and nothing waits") {
                let echo = try await Self.count(
                    "SELECT count(*)::int8 FROM inbox WHERE connector = 'masterdeal' AND dedupe_key = 'deal:\(deal.id):v\(version)' AND status = 'processed'",
                    system)
                let waiting = try await Self.count(
                    "SELECT (SELECT count(*) FROM inbox WHERE status = 'pending') + (SELECT count(*) FROM outbox WHERE status IN ('pending', 'in_flight'))",
                    system)
                return echo == 1 && waiting == 0
            }
            #expect(system.masterDeal.deal(id: deal.id)?.version == version, "no write to MasterDeal after its echo")
            #expect(system.masterDeal.stats.writesApplied == masterWrites)
            let amoWrites = Self.amoWrites(system)
            #expect(
                try await Self.count(
                    "SELECT count(*)::int8 FROM outbox WHERE target = 'tour' AND created_at >= (SELECT processed_at FROM inbox WHERE dedupe_key = 'deal:\(deal.id):v\(version)')",
                    system) == 0,
                "no write to amoCRM queued by the echo")
            #expect(Self.amoWrites(system) == amoWrites)
        }
    }

    static func count(_ sql: String, _ system: SyncSystem) async throws -> Int {
        let rows = try await system.database.client.query(PostgresQuery(unsafeSQL: sql))
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    /// Requests to amoCRM that change leads.
    static func amoWrites(_ system: SyncSystem) -> Int {
        system.amo.stats.requestsByRoute.filter { $0.key.hasPrefix("PATCH ") || $0.key.hasPrefix("POST /api/v4/leads") }.values.reduce(0, +)
    }
}
