import DealSyncSimulators
import DealSyncTestSupport
import Foundation
import Testing

/// The story `dealsync demo` tells in one process, told again with the real `dealsync serve` and the command
/// line an operator would use.
struct DemoFlowTests {
    @Test func theDemoFlowsWorkThroughARealGatewayAndTheCommandLine() async throws {
        var options = Scenario.Options()
        // An outage dead-letters a write within seconds rather than after ten attempts over minutes.
        options.amoDeliveryYAML = "delivery: {backoff_base: 200ms, backoff_cap: 1s, max_attempts: 4}"
        try await Scenario.run(options) { scenario in
            let amo = scenario.amo
            let masterDeal = scenario.masterDeal
            try await scenario.startGateway()
            @Sendable func lead(for dealID: String) -> AmoLead? {
                amo.allLeads(includingDeleted: false).first { Scenario.link(of: $0) == dealID }
            }

            // 1. A deal created in MasterDeal appears in amoCRM, carrying its master_deal_id.
            let deal = try masterDeal.createAsUser(
                .object([
                    "account_id": .string(Scenario.account), "opportunity_name": .string("Сочи, 7 ночей"), "stage": .string("lead"),
                    "amount": .string("150000.50"), "currency": .string("RUB"), "owner_id": .string("u-olga"),
                ]))
            try await eventually("the lead appears in amoCRM") { lead(for: deal.id) != nil }
            let first = try #require(lead(for: deal.id))
            #expect(
                first.name == "Сочи, 7 ночей" && first.price == 150_001 && first.statusID == 7_001_001
                    && first.responsibleUserID == Scenario.olga, "\(first)")

            // 2. A salesperson moves the lead; MasterDeal follows.
            try amo.editAsSalesperson(
                leadID: first.id, userID: Scenario.ivan, AmoLeadFields(statusID: 7_001_004, pipelineID: Scenario.pipeline))
            try await eventually("MasterDeal reaches proposal") { masterDeal.deal(id: deal.id)?.stage == "proposal" }

            // 3. A lead created in amoCRM appears in MasterDeal, and learns its master_deal_id.
            let second = try amo.createAsSalesperson(
                userID: Scenario.olga,
                AmoLeadFields(
                    name: "Домбай, горнолыжный тур", price: 98_000, statusID: 7_001_002, pipelineID: Scenario.pipeline,
                    responsibleUserID: Scenario.olga))
            try await eventually("the deal appears in MasterDeal and the lead carries its id") {
                guard let created = masterDeal.allDeals().first(where: { $0.opportunityName == "Домбай, горнолыжный тур" }) else {
                    return false
                }
                return Scenario.link(of: amo.lead(id: second.id)!) == created.id
            }
            let secondDeal = try #require(masterDeal.allDeals().first { $0.opportunityName == "Домбай, горнолыжный тур" })
            #expect(
                secondDeal.accountID == Scenario.account && secondDeal.stage == "qualified" && secondDeal.amount == "98000.00"
                    && secondDeal.ownerID == "u-olga", "\(secondDeal)")

            // 4. Both sides edit the same deal at the same moment: stage by MasterDeal's priority, title by the later write.
            try masterDeal.editAsUser(
                id: deal.id, changes: .object(["stage": .string("won"), "opportunity_name": .string("Сочи, 7 ночей — VIP")]))
            try amo.editAsSalesperson(
                leadID: first.id, userID: Scenario.ivan,
                AmoLeadFields(name: "Сочи, 10 ночей", statusID: 7_001_007, pipelineID: Scenario.pipeline))
            try await eventually("both sides agree") {
                guard let now = masterDeal.deal(id: deal.id), let lead = amo.lead(id: first.id) else { return false }
                guard now.stage == "won", lead.statusID == 7_001_006, now.opportunityName == lead.name else { return false }
                return try await scenario.openWork() == 0
            }

            // 5. amoCRM goes down: the write retries, ends as a dead letter, and support replays it from the command line.
            var down = FaultSettings()
            down.down = true
            amo.faults.update(down)
            try masterDeal.editAsUser(id: deal.id, changes: .object(["amount": .string("175000.00"), "currency": .string("RUB")]))
            try await eventually("the write is dead-lettered", timeout: .seconds(30)) {
                try await scenario.count("SELECT count(*) FROM dead_letters WHERE status = 'open'") == 1
            }
            amo.faults.update(FaultSettings())
            let listed = try await scenario.dealsync(["dlq", "list"])
            #expect(listed.status == 0 && listed.stdout.contains("tour"), "\(listed.stdout)\(listed.stderr)")
            let letter = try await scenario.count("SELECT id FROM dead_letters WHERE status = 'open'")
            let replay = try await scenario.dealsync(["dlq", "replay", String(letter), "--actor", "scenario"], config: true)
            #expect(replay.status == 0, "\(replay.stdout)\(replay.stderr)")
            #expect(replay.stdout.contains("1 replayed"), "\(replay.stdout)")
            try await eventually("amoCRM has the new price") { amo.lead(id: first.id)?.price == 175_000 }
            #expect(try await scenario.count("SELECT count(*) FROM audit_log WHERE action = 'dlq.replay' AND actor = 'scenario'") == 1)

            // 6. Nothing is duplicated, and both sides agree on everything.
            try await eventually("every write is delivered") { try await scenario.openWork() == 0 }
            #expect(scenario.disagreements() == [])
            #expect(scenario.leads().count == 2 && scenario.deals().count == 2)
            #expect(try await scenario.count("SELECT count(*) FROM dead_letters WHERE status = 'open'") == 0)
        }
    }
}
