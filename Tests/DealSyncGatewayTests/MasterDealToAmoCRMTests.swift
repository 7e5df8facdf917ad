import AsyncHTTPClient
import DealSyncCore
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
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

            // A salesperson moves the lead; MasterDeal follows.
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
            // Quiet for a while: no ping-pong.
            let writesBefore = system.masterDeal.stats.writesApplied
            try await Task.sleep(for: .seconds(2))
            #expect(system.masterDeal.stats.writesApplied == writesBefore)
        }
    }
}
