import DealSyncConnectors
import DealSyncCore
import DealSyncSimulators
import Foundation
import Hummingbird
import Testing

/// Real lead blocks carry tags, a nested list like custom fields (`leads[status][0][tags][0][id]`, `[name]`): they
/// decode, and they never become fields.
struct AmoWebhookTagsTests {
    /// A `status` change of a tagged lead, written by hand as amoCRM sends it: the tags before the custom fields, a
    /// tag whose name looks like a field key.
    static let taggedStatus = [
        "leads%5Bstatus%5D%5B0%5D%5Bid%5D=24180011",
        "leads%5Bstatus%5D%5B0%5D%5Bname%5D=%D0%A2%D1%83%D1%80+%D0%B2+%D0%A1%D0%BE%D1%87%D0%B8",
        "leads%5Bstatus%5D%5B0%5D%5Bstatus_id%5D=7001004",
        "leads%5Bstatus%5D%5B0%5D%5Bold_status_id%5D=7001002",
        "leads%5Bstatus%5D%5B0%5D%5Bpipeline_id%5D=7001000",
        "leads%5Bstatus%5D%5B0%5D%5Bprice%5D=150000",
        "leads%5Bstatus%5D%5B0%5D%5Bresponsible_user_id%5D=6001001",
        "leads%5Bstatus%5D%5B0%5D%5Blast_modified%5D=1767225600",
        "leads%5Bstatus%5D%5B0%5D%5Bmodified_user_id%5D=6001002",
        "leads%5Bstatus%5D%5B0%5D%5Btags%5D%5B0%5D%5Bid%5D=480011",
        "leads%5Bstatus%5D%5B0%5D%5Btags%5D%5B0%5D%5Bname%5D=%D0%B3%D0%BE%D1%80%D1%8F%D1%89%D0%B8%D0%B9",
        "leads%5Bstatus%5D%5B0%5D%5Btags%5D%5B1%5D%5Bid%5D=900004",
        "leads%5Bstatus%5D%5B0%5D%5Btags%5D%5B1%5D%5Bname%5D=price",
        "leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bid%5D=900004",
        "leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bname%5D=%D0%A2%D0%B8%D0%BF+%D1%82%D1%83%D1%80%D0%B0",
        "leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bvalues%5D%5B0%5D%5Bvalue%5D=beach",
        "leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bvalues%5D%5B0%5D%5Benum%5D=501",
        "account%5Bsubdomain%5D=touragency",
        "account%5Bid%5D=31415926",
    ].joined(separator: "&")

    @Test func aTaggedLeadBlockDecodesToItsFieldsOnly() throws {
        let connector = try AmoFixture.offlineConnector()
        let item = try connector.accept(
            WebhookRequest(
                pathSecret: AmoFixture.webhookSecret, headers: ["Content-Type": "application/x-www-form-urlencoded"],
                body: Data(Self.taggedStatus.utf8)))
        let observations = try #require(try connector.decodeStored(item).observations)
        #expect(observations.count == 1)
        #expect(
            observations.first?.fields == [
                "name": .text("Тур в Сочи"), "price": .integer(150_000), "status": .text("7001000:7001004"),
                "responsible_user_id": .text("6001001"), "custom_fields.900004": .text("501"),
            ], "a tag with id 900004 is not custom field 900004, and its name is not a field")
        #expect(observations.first?.stamp == SourceStamp(seconds: 1_767_225_600))
    }

    /// The webhooks the simulated account sends for a lead a salesperson tags, received and decoded.
    @Test func webhooksOfATaggedLeadCarryTheTagsAndDecodeWithoutThem() async throws {
        let router = Router()
        router.post("/webhooks/tour/:secret") { _, _ in "" }
        try await SimulatorHost.withRunning(router: router) { receiver in
            try await AmoHarness.run(account: { $0.webhooks = ["\(receiver)/webhooks/tour/\(AmoFixture.webhookSecret)"] }) { amo in
                let connector = amo.connector()
                let created = try amo.simulator.createAsSalesperson(
                    userID: AmoFixture.olga,
                    AmoLeadFields(
                        name: "Анталья", price: 99_000, statusID: AmoFixture.newLead, pipelineID: AmoFixture.pipeline,
                        customFields: [AmoFixture.tourTypeField: ["ski"]], tags: ["горящий", "VIP"]))
                let moved = try amo.simulator.editAsSalesperson(
                    leadID: created.id, userID: AmoFixture.ivan,
                    AmoLeadFields(
                        statusID: AmoFixture.proposal, tags: ["горящий"]))
                try await amo.eventually("two webhooks") { amo.simulator.webhookHistory.filter(\.succeeded).count >= 2 }
                let hooks = amo.simulator.webhookHistory.filter(\.succeeded).sorted { $0.deliveryID < $1.deliveryID }
                for (hook, lead) in zip(hooks, [created, moved]) {
                    #expect(
                        hook.body.contains("%5Btags%5D%5B0%5D%5Bname%5D=%D0%B3%D0%BE%D1%80%D1%8F%D1%89%D0%B8%D0%B9"),
                        "the tags are on the wire: \(hook.body)")
                    let item = try connector.accept(
                        WebhookRequest(
                            pathSecret: AmoFixture.webhookSecret, headers: ["X-Amocrm-Requestid": hook.requestID],
                            body: Data(hook.body.utf8)))
                    let observations = try #require(try connector.decodeStored(item).observations)
                    #expect(!observations.isEmpty)
                    for observation in observations {
                        #expect(observation.fields == AmoWebhookCaptureTests.fields(of: lead))
                        #expect(!observation.fields.keys.contains { $0.contains("tag") })
                    }
                }
            }
        }
    }
}
