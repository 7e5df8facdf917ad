import DealSyncConnectors
import DealSyncCore
import DealSyncSimulators
import Foundation
import NIOHTTP1
import Testing

/// Shapes of a real account the mapping does not name (the pipeline's "unsorted" status, tracking fields) and of its
/// answers (a lead's own link carrying the query that read it).
struct AmoAccountShapeTests {
    /// The unsorted status of the mapped pipeline, as the account lists it.
    static func unsortedStatus(_ amo: AmoHarness) async throws -> Int {
        let pipelines = try await amo.api(.GET, "/api/v4/leads/pipelines").body?["_embedded"]?["pipelines"]?.array ?? []
        let pipeline = try #require(pipelines.first { $0["id"]?.int64 == Int64(AmoFixture.pipeline) })
        let first = try #require(pipeline["_embedded"]?["statuses"]?.array?.first)
        #expect(first["type"]?.int64 == 1)
        return Int(try #require(first["id"]?.int64))
    }

    @Test func aLeadInTheUnsortedStatusDecodesAndTheAccountStillChecksOut() async throws {
        try await AmoHarness.run { amo in
            let connector = amo.connector()
            let report = try await connector.checkAccount()
            #expect(report.problems.isEmpty, "an unmapped unsorted status is no problem: \(report.problems)")

            let unsorted = try await Self.unsortedStatus(amo)
            let lead = try amo.simulator.createAsSalesperson(
                userID: AmoFixture.olga,
                AmoLeadFields(
                    name: "Заявка с сайта", pipelineID: AmoFixture.pipeline, responsibleUserID: AmoFixture.olga))
            let sorted = try amo.simulator.editAsSalesperson(leadID: lead.id, userID: AmoFixture.olga, AmoLeadFields(statusID: unsorted))
            #expect(sorted.statusID == unsorted)
            let body = try #require(amo.simulator.addWebhookBody(leadID: lead.id))
            let item = try connector.accept(WebhookRequest(pathSecret: AmoFixture.webhookSecret, headers: [:], body: Data(body.utf8)))
            let observation = try #require(try connector.decodeStored(item).observations?.first)
            #expect(observation.fields["status"] == .text("\(AmoFixture.pipeline):\(unsorted)"))
            #expect(
                amo.mapping.stages.canonicalStage(for: "\(AmoFixture.pipeline):\(unsorted)") == nil,
                "the mapping does not name it: the engine logs it as an unmapped value")

            let fetched = try #require(try await connector.fetch([String(lead.id)], lineage: UUID()).first)
            #expect(try connector.decodeStored(fetched).observations?.first?.fields["status"] == observation.fields["status"])
        }
    }

    @Test func aLeadReadByDifferentQueriesIsTheSameInboxItem() async throws {
        try await AmoHarness.run { amo in
            let connector = amo.connector()
            let lead = try amo.simulator.createAsSalesperson(
                userID: AmoFixture.olga,
                AmoLeadFields(
                    name: "С рекламы", pipelineID: AmoFixture.pipeline, customFields: [AmoFixture.tourTypeField: ["beach"]]))
            let fetched = try #require(try await connector.fetch([String(lead.id)], lineage: UUID()).first)
            let polled = try #require(try await connector.poll(from: nil).items.first { $0.body.contains(Data("\(lead.id)".utf8)) })
            #expect(fetched.body != polled.body, "each read's lead links with its own query string")
            #expect(fetched.dedupeKey == polled.dedupeKey, "the same state of the lead is one inbox item")
            let observation = try #require(try connector.decodeStored(polled).observations?.first)
            #expect(observation.fields["custom_fields.\(AmoFixture.tourTypeField)"] == .text(String(AmoFixture.beach)))
        }
    }
}
