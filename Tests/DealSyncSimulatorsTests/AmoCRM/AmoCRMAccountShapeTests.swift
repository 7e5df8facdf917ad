import DealSyncCore
import DealSyncSimulators
import Foundation
import NIOHTTP1
import Testing

/// What real accounts have and answer that a mapping does not name: the "unsorted" status of every pipeline, tracking
/// fields, lists with only `_links` and `_embedded`, leads linking to themselves with the query that read them.
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
        let mapping = try #require(
            try ConfigurationLoader(environment: [:])
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
                #expect(
                    first.jsonInt("type") == 1 && first.jsonInt("sort") == 10 && first["is_editable"] as? Bool == false,
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
            let lead = try simulator.createAsSalesperson(
                userID: configuration.oauth.userID, AmoLeadFields(name: "С сайта", statusID: unsorted))
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

extension AmoCRMAccountShapeTests {
    @Test func aListHasOnlyLinksAndEmbeddedAndEachLeadLinksWithTheQuery() async throws {
        try await Amo.withSimulator { simulator, client in
            let query = "with=source_id,is_price_modified_by_robot&limit=2"
            let reply = try await client.get("/api/v4/leads?\(query)")
            #expect(reply.status == 200)
            #expect(reply.object.keys.sorted() == ["_embedded", "_links"])
            let authority = try #require(client.base.split(separator: "/").last)
            let leads = reply.object.jsonObject("_embedded").jsonArray("leads")
            #expect(leads.count == 2)
            for lead in leads {
                let id = try #require(lead.jsonInt("id"))
                #expect(
                    lead.jsonObject("_links").jsonObject("self").jsonString("href") == "https://\(authority)/api/v4/leads/\(id)?\(query)")
                #expect(lead.keys.contains("source_id") && lead["is_price_modified_by_robot"] as? Bool == false, "asked for with=")
            }
            let plain = try await client.get("/api/v4/leads/\(try #require(leads.first?.jsonInt("id")))")
            #expect(
                plain.object.jsonObject("_links").jsonObject("self").jsonString("href")?.hasSuffix(
                    "/api/v4/leads/\(leads[0].jsonInt("id")!)") == true)
            #expect(plain.object["source_id"] == nil && plain.object["is_price_modified_by_robot"] == nil)
            _ = simulator
        }
    }

    @Test(arguments: [true, false])
    func everyAccountHasTrackingFields(mappingShaped: Bool) async throws {
        let configuration = mappingShaped ? try Self.mappingShaped() : Amo.configuration()
        try await Amo.withSimulator(configuration) { simulator, client in
            let fields = try await client.get("/api/v4/leads/custom_fields").object.jsonObject("_embedded").jsonArray("custom_fields")
            let tracking = fields.filter { $0.jsonString("type") == "tracking_data" }
            #expect(tracking.compactMap { $0.jsonString("code") } == AmoCRMSimulator.Configuration.trackingCodes)
            #expect(tracking.allSatisfy { $0["is_predefined"] as? Bool == true && $0["is_deletable"] as? Bool == false })
            #expect(Set(fields.compactMap { $0.jsonInt("id") }).count == fields.count, "ids are unique")
            guard !mappingShaped else { return }
            let seeded = try #require(simulator.allLeads().first { $0.values(ofField: Default.utmSourceField) != nil })
            let lead = try await client.get("/api/v4/leads/\(seeded.id)").object
            let source = try #require(lead.jsonArray("custom_fields_values").first { $0.jsonInt("field_id") == Default.utmSourceField })
            #expect(source.jsonString("field_type") == "tracking_data" && source.jsonString("field_code") == "UTM_SOURCE")
            #expect(source.jsonArray("values").first?.jsonString("value") == "yandex")
        }
    }
}

/// Reads a webhook body the test got from the simulator.
enum AmoWebhookBody {
    static func parse(_ body: String?) -> PHPForm.Map? { body.flatMap { try? PHPForm.parse($0) } }
}
