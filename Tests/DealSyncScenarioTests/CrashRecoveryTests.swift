import DealSyncSimulators
import DealSyncTestSupport
import Foundation
import Testing

/// The gateway dies the hard way while both sides are busy, and a new one takes over the same database.
struct CrashRecoveryTests {
    static let perSide = 30

    @Test func sigkillUnderLoadLosesNothingAndDuplicatesNothing() async throws {
        try await Scenario.run { scenario in
            let amo = scenario.amo
            let masterDeal = scenario.masterDeal
            try await scenario.startGateway()

            // Users of both sides create deals and leads, alternately, ~25 a second: far more than amoCRM's
            // 7 requests/s let dealsync write, so a backlog builds up.
            var made = 0
            func create(_ index: Int) throws {
                let owner = index % 3 == 0 ? Scenario.ivan : Scenario.olga
                if index % 2 == 0 {
                    try masterDeal.createAsUser(
                        .object([
                            "account_id": .string(Scenario.account), "opportunity_name": .string("MD-\(index)"), "stage": .string("lead"),
                            "amount": .string("\(10_000 + index * 100).00"), "currency": .string("RUB"),
                            "owner_id": .string(Scenario.ownerByUser[owner]!),
                        ]))
                } else {
                    try amo.createAsSalesperson(
                        userID: owner,
                        AmoLeadFields(
                            name: "AMO-\(index)", price: 20_000 + index * 100, statusID: 7_001_002, pipelineID: Scenario.pipeline,
                            responsibleUserID: owner))
                }
                made += 1
            }
            let total = 2 * Self.perSide
            let killAt = total * 2 / 5
            for index in 0..<killAt {
                try create(index)
                try await Task.sleep(for: .milliseconds(40))
            }
            // Mid-way, while webhooks are being answered and writes are queued and in flight: SIGKILL.
            try await eventually("writes are in flight", timeout: .seconds(10)) {
                try await scenario.count("SELECT count(*) FROM outbox WHERE status = 'in_flight'") >= 3
            }
            let openAtKill = try await scenario.openWork()
            await scenario.killGateway()
            let inFlightAtKill = try await scenario.count("SELECT count(*) FROM outbox WHERE status = 'in_flight'")

            // Life goes on while nobody is there: more records, and edits of records made before the crash.
            for index in killAt..<total {
                try create(index)
                try await Task.sleep(for: .milliseconds(20))
            }
            let earlyDeals = masterDeal.allDeals().filter { $0.opportunityName.hasPrefix("MD-") }.prefix(4)
            for deal in earlyDeals {
                try masterDeal.editAsUser(id: deal.id, changes: .object(["stage": .string("proposal"), "amount": .string("77000.00")]))
            }
            let earlyLeads = amo.allLeads().filter { $0.name.hasPrefix("AMO-") }.prefix(4)
            for lead in earlyLeads {
                try amo.editAsSalesperson(leadID: lead.id, userID: Scenario.ivan, AmoLeadFields(name: lead.name + " (изм.)"))
            }

            // A new process on the same database.
            try await scenario.startGateway()
            do {
                try await eventually("both sides converge", timeout: .seconds(45)) {
                    guard scenario.disagreements().isEmpty, scenario.leads().count == total else { return false }
                    return try await scenario.openWork() == 0
                }
            } catch {
                let problems = scenario.disagreements().prefix(30).joined(separator: "\n")
                Issue.record("\(error)\n\(problems)\n\(await scenario.dumpOpenWork())")
                throw error
            }

            #expect(made == total)
            #expect(openAtKill > 0 && inFlightAtKill > 0, "the gateway was killed with work under way and writes in flight")
            print("killed with \(openAtKill) rows of open work, \(inFlightAtKill) writes in flight")
            #expect(scenario.leads().count == total, "one lead per record: no duplicate leads in amoCRM")
            #expect(scenario.deals().count == total, "one deal per record: no duplicate deals in MasterDeal")
            #expect(Set(scenario.leads().map(\.name)).count == total && Set(scenario.deals().map(\.opportunityName)).count == total)
            #expect(scenario.disagreements() == [], "every link set, every value equal on both sides")
            for deal in earlyDeals {
                let now = try #require(masterDeal.deal(id: deal.id))
                #expect(now.stage == "proposal" && now.amount == "77000.00", "the MasterDeal edit made during the outage survived")
            }
            for lead in earlyLeads {
                let now = try #require(amo.lead(id: lead.id))
                let deal = try #require(masterDeal.deal(id: Scenario.link(of: now) ?? ""))
                #expect(deal.opportunityName == lead.name + " (изм.)", "the amoCRM edit made during the outage reached MasterDeal")
            }
            #expect(try await scenario.count("SELECT count(*) FROM dead_letters") == 0)
            #expect(try await scenario.count("SELECT count(*) FROM inbox WHERE status = 'failed'") == 0)
        }
    }
}
