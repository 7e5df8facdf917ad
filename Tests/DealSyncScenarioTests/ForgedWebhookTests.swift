import DealSyncSimulators
import DealSyncTestSupport
import Foundation
import Testing

/// Someone who is not amoCRM or MasterDeal posts to the webhook routes of a real `dealsync serve`.
struct ForgedWebhookTests {
    @Test func forgedWebhooksAreRefusedAndStoreNothing() async throws {
        var options = Scenario.Options()
        options.amoWebhooksToGateway = false
        options.polling = false
        try await Scenario.run(options) { scenario in
            // A real lead's real webhook body: only the URL secret is wrong.
            let lead = try scenario.amo.createAsSalesperson(
                userID: Scenario.olga,
                AmoLeadFields(
                    name: "Чужой лид", price: 1_000, statusID: 7_001_001, pipelineID: Scenario.pipeline, responsibleUserID: Scenario.olga))
            let amoBody = try #require(scenario.amo.addWebhookBody(leadID: lead.id))
            // A well-formed MasterDeal event for a deal of the synced account.
            let event = try Self.eventBody(account: Scenario.account, name: "Поддельная сделка")
            try await scenario.startGateway()

            // amoCRM: the secret is the path; a wrong or missing one is answered as if nothing were there.
            #expect(try await scenario.postAmoWebhook(amoBody, secret: "guessed-secret-0000") == 404)
            #expect(try await scenario.postAmoWebhook(amoBody, secret: String(Scenario.webhookSecret.dropLast())) == 404)
            #expect(
                try await scenario.post(
                    "/webhooks/tour", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                    body: amoBody
                ).status == 404)
            #expect(try await scenario.post("/webhooks/nonexistent/\(Scenario.webhookSecret)", body: amoBody).status == 404)

            // MasterDeal: HMAC over "<t>.<body>" with the shared secret.
            let now = Int64(Date().timeIntervalSince1970)
            let json = [("Content-Type", "application/json")]
            let forged = MasterDealSimulator.signature(secret: "not-the-secret", body: event, timestamp: now)
            #expect(try await scenario.post("/webhooks/masterdeal", headers: json + [("X-Signature", forged)], body: event).status == 401)
            #expect(try await scenario.post("/webhooks/masterdeal", headers: json, body: event).status == 401, "unsigned")
            #expect(
                try await scenario.post("/webhooks/masterdeal", headers: json + [("X-Signature", "v1=deadbeef")], body: event).status
                    == 401,
                "malformed signature")
            let genuine = MasterDealSimulator.signature(secret: Scenario.eventSecret, body: event, timestamp: now)
            let tampered = event.replacingOccurrences(of: "Поддельная сделка", with: "Подменённая сделка")
            #expect(
                try await scenario.post("/webhooks/masterdeal", headers: json + [("X-Signature", genuine)], body: tampered).status == 401,
                "a genuine signature of another body")
            let replayed = MasterDealSimulator.signature(secret: Scenario.eventSecret, body: event, timestamp: now - 3_600)
            #expect(
                try await scenario.post("/webhooks/masterdeal", headers: json + [("X-Signature", replayed)], body: event).status == 401,
                "a signature an hour old")

            // Bodies above the 1 MiB limit are refused before anything looks at them.
            let huge = "leads[add][0][id]=1&padding=" + String(repeating: "x", count: 1 << 20)
            #expect(try await scenario.postAmoWebhook(huge) == 413)
            let hugeEvent = String(repeating: " ", count: 1 << 20) + event
            let hugeSignature = MasterDealSimulator.signature(secret: Scenario.eventSecret, body: hugeEvent, timestamp: now)
            #expect(
                try await scenario.post("/webhooks/masterdeal", headers: json + [("X-Signature", hugeSignature)], body: hugeEvent).status
                    == 413)

            // Nothing was stored, decided or sent.
            #expect(try await scenario.count("SELECT count(*) FROM inbox") == 0)
            #expect(try await scenario.count("SELECT count(*) FROM links") == 0)
            #expect(try await scenario.count("SELECT count(*) FROM outbox") == 0)
            #expect(scenario.masterDeal.allDeals().isEmpty, "no deal reached MasterDeal")
            #expect(scenario.masterDeal.stats.writesApplied == 0)
            #expect(scenario.amo.allLeads().count == 1)
            #expect(scenario.amo.lead(id: lead.id) == lead, "the lead was not touched")

            // The refusals are counted where the rejection alerts look.
            let metrics = try await scenario.get("/metrics").body
            func value(_ connector: String, _ outcome: String) -> Double {
                ServeLifecycleTests.metricValue(metrics, "dealsync_webhooks_total", connector: connector, outcome: outcome)
            }
            #expect(value("masterdeal", "rejected_unauthorized") == 4)
            #expect(value("masterdeal", "rejected_stale") == 1)
            #expect(value("masterdeal", "too_large") == 1)
            #expect(value("tour", "too_large") == 1)
            #expect(value("tour", "rejected_unauthorized") == 2, "a wrong URL secret is a forgery, as the runbook says")
            #expect(!metrics.contains(#"outcome="rejected_not_found""#), "no outcome outside the registered set")
            #expect(value("tour", "accepted") == 0 && value("masterdeal", "accepted") == 0)

            // The same routes take the genuine article: a signed event is stored (for an account nobody syncs, so
            // nothing else happens).
            let other = try Self.eventBody(account: "acc-elsewhere", name: "Настоящая сделка")
            let signed = MasterDealSimulator.signature(secret: Scenario.eventSecret, body: other, timestamp: now)
            #expect(try await scenario.post("/webhooks/masterdeal", headers: json + [("X-Signature", signed)], body: other).status == 200)
            #expect(try await scenario.count("SELECT count(*) FROM inbox") == 1)
        }
    }

    /// A `DealCreated` event body as MasterDeal sends it, for a deal that exists nowhere.
    static func eventBody(account: String, name: String) throws -> String {
        let elsewhere = MasterDealSimulator()
        let deal = try elsewhere.createAsUser(
            .object([
                "account_id": .string(account), "opportunity_name": .string(name), "stage": .string("lead"),
                "amount": .string("5000.00"), "currency": .string("RUB"), "owner_id": .string("u-olga"),
            ]))
        let event = MasterDealSimulator.Event(
            type: .dealCreated, occurredAt: Int64(Date().timeIntervalSince1970 * 1000),
            source: "masterdeal-ui", deal: deal)
        return event.json.text
    }
}
