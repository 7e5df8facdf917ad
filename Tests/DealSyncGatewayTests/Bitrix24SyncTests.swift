import DealSyncCore
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import Testing

@Suite(.serialized)
struct Bitrix24SyncTests {
    @Test func aDealRoundTripsBetweenMasterDealAndBitrix24ThroughEventsAndPolling() async throws {
        try await SyncSystem.run { system in
            let deal = try system.masterDeal.createAsUser(
                .object([
                    "account_id": .string("acc-fitness"), "opportunity_name": .string("Персональные тренировки, 12 занятий"),
                    "stage": .string("lead"), "amount": .string("24000.00"), "currency": .string("RUB"), "owner_id": .string("u-maria"),
                    "attributes": .object(["program": .string("personal")]),
                ]))
            try await system.eventually("the deal appears in Bitrix24") {
                system.bitrix.allDeals().contains { $0.originID == deal.id }
            }
            let created = try #require(system.bitrix.allDeals().first { $0.originID == deal.id })
            #expect(created.originatorID == "dealsync")
            #expect(created.categoryID == 2 && created.stageID == "C2:NEW")
            #expect(created.opportunity == Decimal(24000) && created.currencyID == "RUB")
            #expect(created.assignedByID == 12)
            #expect(created.userField("UF_CRM_PROGRAM") == "41")

            // A coach moves the deal: Bitrix24 sends only the id; dealsync reads the deal and updates MasterDeal.
            _ = system.bitrix.editAsSalesperson(
                dealID: created.id, userID: 15, fields: ["STAGE_ID": "C2:PREPARATION", "ASSIGNED_BY_ID": "15"])
            do {
                try await system.eventually("MasterDeal reaches qualified") {
                    let now = system.masterDeal.deal(id: deal.id)
                    return now?.stage == "qualified" && now?.ownerID == "u-igor"
                }
            } catch {
                print(try await system.dump())
                throw error
            }

            // A lost event: polling alone brings both sides back in line.
            system.bitrix.pauseEvents()
            _ = system.bitrix.editAsSalesperson(dealID: created.id, userID: 12, fields: ["TITLE": "Персональные тренировки, 24 занятия"])
            try await system.eventually("the poller finds the edit", timeout: .seconds(15)) {
                system.masterDeal.deal(id: deal.id)?.opportunityName == "Персональные тренировки, 24 занятия"
            }
            system.bitrix.resumeEvents()
            #expect(system.bitrix.allDeals().filter { $0.originID == deal.id }.count == 1, "no duplicate deals")
            #expect(system.bitrix.stats.queryLimitExceeded == 0, "never over the leaky bucket")
        }
    }

    @Test func aDealCreatedInBitrix24IsCreatedInMasterDealAndLinked() async throws {
        try await SyncSystem.run { system in
            let created = system.bitrix.createAsSalesperson(
                userID: 15,
                fields: [
                    "TITLE": "Онлайн-марафон", "STAGE_ID": "C2:PREPAYMENT_INVOICE", "CATEGORY_ID": "2", "OPPORTUNITY": "9900.00",
                    "CURRENCY_ID": "RUB", "ASSIGNED_BY_ID": "15", "UF_CRM_PROGRAM": "43",
                ])
            try await system.eventually("MasterDeal has the deal") {
                system.masterDeal.allDeals().contains { $0.opportunityName == "Онлайн-марафон" }
            }
            let deal = try #require(system.masterDeal.allDeals().first { $0.opportunityName == "Онлайн-марафон" })
            #expect(deal.accountID == "acc-fitness" && deal.stage == "proposal" && deal.amount == "9900.00" && deal.ownerID == "u-igor")
            try await system.eventually("the Bitrix24 deal carries ORIGIN_ID") {
                system.bitrix.deal(id: created.id)?.originID == deal.id
            }
            #expect(system.bitrix.deal(id: created.id)?.originatorID == "dealsync")
        }
    }

    @Test func aDeletedBitrix24DealIsPropagatedAsLostAndLogged() async throws {
        try await SyncSystem.run { system in
            let deal = try system.masterDeal.createAsUser(
                .object([
                    "account_id": .string("acc-fitness"), "opportunity_name": .string("Группа, 8 занятий"), "stage": .string("lead"),
                ]))
            try await system.eventually("the deal appears in Bitrix24") { system.bitrix.allDeals().contains { $0.originID == deal.id } }
            let created = try #require(system.bitrix.allDeals().first { $0.originID == deal.id })
            _ = system.bitrix.deleteAsSalesperson(dealID: created.id, userID: 12)
            do {
                try await system.eventually("MasterDeal moves the deal to lost") { system.masterDeal.deal(id: deal.id)?.stage == "lost" }
            } catch {
                print(try await system.dump())
                throw error
            }
            let entries = try await DivergenceStore(database: system.database, logger: TestPostgres.logger).list(.init(kinds: ["delete"]))
            #expect(entries.contains { $0.connector == "fitness" && $0.rule == "on_delete:propagate" })
        }
    }
}
