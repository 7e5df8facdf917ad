import DealSyncCore
import DealSyncSimulators
import DealSyncTestSupport
import Foundation
import Testing

/// amoCRM retries a webhook it thinks failed (with a new request id), delivers concurrently, and nothing orders
/// its deliveries: the final state must not depend on how often or in which order they arrive.
struct WebhookOrderingTests {
    @Test func duplicatedAndOutOfOrderWebhooksReachTheSameFinalState() async throws {
        var options = Scenario.Options()
        options.amoWebhooksToGateway = false  // the test is the courier
        options.polling = false  // only the webhooks tell dealsync about the leads
        options.amoWebhookTimeScale = 1  // no retries of the failed attempts within the test
        try await Scenario.run(options) { scenario in
            let amo = scenario.amo
            // Two leads live through the same story; amoCRM's webhooks for each are captured, not delivered.
            var bodies: [Int: [String]] = [:]
            var leads: [Int] = []
            for name in ["Архыз", "Эльбрус"] {
                let body = try await Self.captured(amo) {
                    let lead = try amo.createAsSalesperson(
                        userID: Scenario.olga,
                        AmoLeadFields(
                            name: "\(name), 5 ночей", price: 80_000, statusID: 7_001_001, pipelineID: Scenario.pipeline,
                            responsibleUserID: Scenario.olga))
                    leads.append(lead.id)
                }
                bodies[leads.last!] = [body]
            }
            let edits: [(Int, AmoLeadFields)] = [
                (Scenario.olga, AmoLeadFields(name: "6 ночей", price: 90_000)),
                (Scenario.ivan, AmoLeadFields(statusID: 7_001_004, pipelineID: Scenario.pipeline, responsibleUserID: Scenario.ivan)),
                (Scenario.ivan, AmoLeadFields(name: "7 ночей", price: 99_000)),
                (Scenario.ivan, AmoLeadFields(statusID: 7_001_006, pipelineID: Scenario.pipeline)),
            ]
            for (user, edit) in edits {
                // amoCRM stamps changes in whole seconds: each edit is a second later than the one before.
                amo.advanceClock(bySeconds: 1)
                for id in leads {
                    var fields = edit
                    if let suffix = edit.name { fields.name = amo.lead(id: id)!.name.components(separatedBy: ", ")[0] + ", " + suffix }
                    let body = try await Self.captured(amo) { _ = try amo.editAsSalesperson(leadID: id, userID: user, fields) }
                    bodies[id, default: []].append(body)
                }
            }
            try await scenario.startGateway()
            let (inOrder, shuffled) = (leads[0], leads[1])

            // The first lead's webhooks arrive once each, in order: the reference.
            for body in bodies[inOrder]! { #expect(try await scenario.postAmoWebhook(body, requestID: UUID().uuidString) == 200) }

            // The second lead's arrive newest first, then again in a scrambled order under new request ids (amoCRM's
            // retries), then a third time without request ids, byte for byte (recognised as duplicates).
            var random = SplitMix64(seed: 2_026)
            var deliveries = bodies[shuffled]!.reversed().map { ($0, UUID().uuidString) }
            deliveries += bodies[shuffled]!.shuffled(using: &random).map { ($0, UUID().uuidString) }
            for (body, requestID) in deliveries { #expect(try await scenario.postAmoWebhook(body, requestID: requestID) == 200) }
            for body in bodies[shuffled]!.shuffled(using: &random) {
                let first = try await scenario.post(
                    "/webhooks/tour/\(Scenario.webhookSecret)",
                    headers: [("Content-Type", "application/x-www-form-urlencoded")], body: body)
                let again = try await scenario.post(
                    "/webhooks/tour/\(Scenario.webhookSecret)",
                    headers: [("Content-Type", "application/x-www-form-urlencoded")], body: body)
                #expect(first.status == 200 && again.status == 200)
                #expect(again.body.contains(#""status":"duplicate""#), "\(again.body)")
            }
            let stored = try await scenario.count("SELECT count(*) FROM inbox WHERE connector = 'tour'")
            #expect(stored == 5 + 10 + 5, "every request id is a new delivery; an identical body without one is not")

            try await eventually("each lead has its deal and both sides agree", timeout: .seconds(30)) {
                guard scenario.disagreements().isEmpty, scenario.deals().count == 2 else { return false }
                return try await scenario.openWork() == 0
            }
            #expect(scenario.disagreements() == [])
            #expect(scenario.deals().count == 2, "one deal per lead, however often its webhooks came")
            #expect(scenario.leads().count == 2, "no lead was created by dealsync")
            for id in leads {
                let lead = try #require(amo.lead(id: id))
                #expect(
                    lead.price == 99_000 && lead.statusID == 7_001_006 && lead.responsibleUserID == Scenario.ivan
                        && lead.name.hasSuffix(", 7 ночей"), "the lead kept its latest state: \(lead)")
                let deal = try #require(scenario.masterDeal.deal(id: Scenario.link(of: lead) ?? ""))
                #expect(
                    deal.stage == "won" && deal.amount == "99000.00" && deal.ownerID == "u-ivan" && deal.opportunityName == lead.name,
                    "the deal holds the lead's latest state: \(deal)")
            }
            let failed = try await scenario.count("SELECT count(*) FROM inbox WHERE status = 'failed'")
            #expect(failed == 0)
        }
    }

    /// Runs `action` and returns the body of the one webhook amoCRM sent for it.
    static func captured(_ amo: AmoCRMSimulator, _ action: () throws -> Void) async throws -> String {
        let before = amo.webhookHistory.count
        try action()
        try await eventually("amoCRM sent the webhook", timeout: .seconds(5)) { amo.webhookHistory.count > before }
        let sent = amo.webhookHistory[before...]
        #expect(sent.count == 1, "one delivery per change")
        return sent.first!.body
    }
}
