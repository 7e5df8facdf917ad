import DealSyncCore
import DealSyncSimulators
import Foundation
import NIOHTTP1
import Testing

/// What real accounts have that a mapping does not name: the "unsorted" status of every pipeline.
struct AmoCRMAccountShapeTests {
    typealias Default = Amo.Default

    static let mappingYAML = """
        name: tour
        crm: amocrm
        pipeline: 7001000
        link_field: custom_fields.900001
        fields:
          title: {master: opportunity_name, crm: name}
          stage: {master: stage, crm: status, transform: stage}
        stages:
          lead: [{status: 7001001, name: Новый лид}]
          proposal: [{status: 7001004, name: Предложение}, {status: 7002001, pipeline: 7002000}]
          won: [142]
          lost: [143]
        owners:
          - {master: u-olga, crm: 6001001}
        """

    /// An account shaped by the mapping above, with the tests' token.
    static func mappingShaped() throws -> AmoCRMSimulator.Configuration {
        let mapping = try #require(try ConfigurationLoader(environment: [:])
            .load(connectors: [], mappings: [.init(path: "m.yaml", text: mappingYAML)]).mappings["tour"])
        var configuration = AmoCRMSimulator.Configuration(matching: mapping)
        configuration.oauth.accessToken = Amo.accessToken
        configuration.requestsPerSecond = 10_000
        configuration.blockAfterViolations = nil
        configuration.seed = 5
        return configuration
    }

    @Test(arguments: [true, false])
    func everyPipelineStartsWithItsUnsortedStatus(mappingShaped: Bool) async throws {
        let configuration = mappingShaped ? try Self.mappingShaped() : Amo.configuration()
        try await Amo.withSimulator(configuration) { simulator, client in
            let reply = try await client.get("/api/v4/leads/pipelines")
            let pipelines = reply.object.jsonObject("_embedded").jsonArray("pipelines")
            #expect(pipelines.count == 2)
            var unsortedIDs: Set<Int> = []
            var otherIDs: Set<Int> = []
            for pipeline in pipelines {
                #expect(pipeline["is_unsorted_on"] as? Bool == true)
                let statuses = pipeline.jsonObject("_embedded").jsonArray("statuses")
                let first = try #require(statuses.first)
                #expect(first.jsonInt("type") == 1 && first.jsonInt("sort") == 10 && first["is_editable"] as? Bool == false,
                        "\(first)")
                #expect(first.jsonString("name") == "Неразобранное")
                #expect(statuses.dropFirst().allSatisfy { $0.jsonInt("type") == 0 }, "one unsorted status per pipeline")
                #expect(statuses.dropFirst().first?.jsonInt("sort") == 20)
                unsortedIDs.insert(try #require(first.jsonInt("id")))
                otherIDs.formUnion(statuses.dropFirst().compactMap { $0.jsonInt("id") }.filter { $0 != 142 && $0 != 143 })
            }
            #expect(unsortedIDs.count == 2 && unsortedIDs.isDisjoint(with: otherIDs), "status ids are the account's own")

            // Leads can sit in it, and webhooks name it.
            let main = try #require(pipelines.first { $0["is_main"] as? Bool == true })
            let unsorted = try #require(main.jsonObject("_embedded").jsonArray("statuses").first?.jsonInt("id"))
            let lead = try simulator.createAsSalesperson(userID: configuration.oauth.userID, AmoLeadFields(name: "С сайта", statusID: unsorted))
            #expect(lead.statusID == unsorted && lead.pipelineID == main.jsonInt("id"))
            let form = try #require(AmoWebhookBody.parse(simulator.addWebhookBody(leadID: lead.id)))
            #expect(form.amoLeads("add").first?.amoText("status_id") == String(unsorted))
            // A lead the API creates with only a pipeline lands in the first status that is not unsorted.
            let created = try await client.send(.POST, "/api/v4/leads", json: #"[{"name":"API","pipeline_id":\#(main.jsonInt("id")!)}]"#)
            let id = try #require(created.object.jsonObject("_embedded").jsonArray("leads").first?.jsonInt("id"))
            #expect(simulator.lead(id: id)?.statusID != unsorted)
        }
    }
}

/// Reads a webhook body the test got from the simulator.
enum AmoWebhookBody {
    static func parse(_ body: String?) -> PHPForm.Map? { body.flatMap { try? PHPForm.parse($0) } }
}
