import DealSyncSimulators
import Foundation
import NIOHTTP1
import Testing

/// `POST` and `PATCH /api/v4/leads`: response shapes, amoCRM's write rules and validation errors.
struct AmoCRMLeadWriteTests {
    typealias Default = Amo.Default

    @Test func createAnswers200WithRequestIDsEchoedOrIndexed() async throws {
        try await Amo.withSimulator { simulator, client in
            let reply = try await client.send(
                .POST, "/api/v4/leads",
                json: """
                    [{"name":"Тур в Стамбул","price":120000,"request_id":"md-1","updated_by":0},
                     {"name":"Тур в Каир","status_id":\(Default.booked)}]
                    """)
            #expect(reply.status == 200)
            #expect(reply.contentType == "application/hal+json")
            let leads = reply.object.jsonObject("_embedded").jsonArray("leads")
            #expect(leads.map { $0.jsonString("request_id") } == ["md-1", "1"])
            #expect(leads.allSatisfy { Set($0.keys) == ["id", "request_id", "_links"] })
            let firstID = try #require(leads[0].jsonInt("id"))
            let secondID = try #require(leads[1].jsonInt("id"))
            let first = try #require(simulator.lead(id: firstID))
            #expect(first.name == "Тур в Стамбул")
            #expect(first.price == 120_000)
            #expect(first.updatedBy == 0, "updated_by: 0 marks a robot")
            #expect(first.createdBy == Default.admin, "created by the token's user")
            #expect(first.pipelineID == Default.toursPipeline)
            #expect(first.statusID == Default.newRequest, "a new lead lands in the first stage after unsorted")
            let second = try #require(simulator.lead(id: secondID))
            #expect(second.updatedBy == Default.admin)
            #expect(second.id > first.id)
        }
    }

    @Test func patchBatchAnswersOnlyIDUpdatedAtAndLinks() async throws {
        try await Amo.withSimulator { simulator, client in
            let ids = simulator.allLeads().prefix(2).map(\.id)
            let reply = try await client.send(
                .PATCH, "/api/v4/leads",
                json: """
                    [{"id":\(ids[0]),"price":1000},{"id":\(ids[1]),"name":"Переименована"}]
                    """)
            #expect(reply.status == 200)
            let leads = reply.object.jsonObject("_embedded").jsonArray("leads")
            #expect(leads.compactMap { $0.jsonInt("id") } == ids)
            #expect(leads.allSatisfy { Set($0.keys) == ["id", "updated_at", "_links"] })
            #expect(simulator.lead(id: ids[0])?.price == 1000)
            #expect(simulator.lead(id: ids[1])?.name == "Переименована")

            let single = try await client.send(.PATCH, "/api/v4/leads/\(ids[0])", json: #"{"price":2000}"#)
            #expect(single.status == 200)
            #expect(single.object.jsonInt("id") == ids[0])
            #expect(simulator.lead(id: ids[0])?.price == 2000)
        }
    }

    @Test func updatedAtMovesOnEveryWriteEvenANoOp() async throws {
        try await Amo.withSimulator { simulator, client in
            let lead = try #require(simulator.allLeads().first)
            let before = lead.updatedAt
            #expect(before < simulator.now, "seeded an hour or more ago")
            let first = try await client.send(.PATCH, "/api/v4/leads/\(lead.id)", json: #"{"name":"\#(lead.name)"}"#)
            let afterNoOp = try #require(first.object.jsonInt("updated_at"))
            #expect(afterNoOp > before)
            #expect(afterNoOp == simulator.lead(id: lead.id)?.updatedAt)

            simulator.advanceClock(bySeconds: 30)
            _ = try await client.send(.PATCH, "/api/v4/leads", json: #"[{"id":\#(lead.id)}]"#)
            let later = try #require(simulator.lead(id: lead.id)?.updatedAt)
            #expect(later >= afterNoOp + 30)
            let read = try await client.get("/api/v4/leads/\(lead.id)")
            #expect(read.object.jsonInt("updated_at") == later)
            #expect(read.object.jsonInt("updated_by") == Default.admin)
        }
    }

    @Test func customFieldsAreWrittenReadAndCleared() async throws {
        try await Amo.withSimulator { simulator, client in
            let created = try await client.send(
                .POST, "/api/v4/leads",
                json: """
                    [{"name":"Поля","custom_fields_values":[
                      {"field_id":\(Default.travellersField),"values":[{"value":3}]},
                      {"field_id":\(Default.destinationField),"values":[{"enum_id":\(Default.destinationItaly)}]},
                      {"field_code":"MASTER_DEAL_ID","values":[{"value":"md-42"}]},
                      {"field_id":\(Default.departureDateField),"values":[{"value":1790000000}]}]}]
                    """)
            #expect(created.status == 200)
            let id = try #require(created.object.jsonObject("_embedded").jsonArray("leads").first?.jsonInt("id"))
            let lead = try #require(simulator.lead(id: id))
            #expect(lead.values(ofField: Default.destinationField) == ["Италия"])
            #expect(lead.values(ofField: Default.masterDealIDField) == ["md-42"])

            let read = try await client.get("/api/v4/leads/\(id)").object.jsonArray("custom_fields_values")
            #expect(read.first { $0.jsonInt("field_id") == Default.travellersField }?.jsonArray("values").first?["value"] as? String == "3")

            _ = try await client.send(
                .PATCH, "/api/v4/leads/\(id)",
                json: """
                    {"custom_fields_values":[{"field_id":\(Default.travellersField),"values":null}]}
                    """)
            #expect(simulator.lead(id: id)?.values(ofField: Default.travellersField) == nil)
            #expect(simulator.lead(id: id)?.values(ofField: Default.destinationField) == ["Италия"], "other fields stay")
        }
    }

    @Test func winningSetsClosedAtAndLossReasonNeedsLost() async throws {
        try await Amo.withSimulator { simulator, client in
            let lead = try #require(simulator.allLeads().first { $0.statusID == Default.newRequest })
            #expect(lead.closedAt == nil)
            let rejected = try await client.send(
                .PATCH, "/api/v4/leads/\(lead.id)",
                json: """
                    {"status_id":142,"loss_reason_id":\(Default.lossTooExpensive)}
                    """)
            #expect(rejected.status == 400)
            #expect(rejected.contentType == "application/problem+json")
            #expect(
                rejected.body
                    == #"{"errors":{"\#(lead.id)":"Loss reason can be specified only for lost lead"},"title":"Bad Request","type":"https:\/\/httpstatus.es\/400","status":400,"detail":"Invalid request body"}"#,
                "a rule broken: keyed by the lead id, no validation-errors")
            #expect(simulator.lead(id: lead.id)?.statusID == Default.newRequest, "a rejected write changes nothing")

            let lost = try await client.send(
                .PATCH, "/api/v4/leads/\(lead.id)",
                json: """
                    {"status_id":143,"loss_reason_id":\(Default.lossTooExpensive)}
                    """)
            #expect(lost.status == 200)
            let closed = try #require(simulator.lead(id: lead.id))
            #expect(closed.lossReasonID == Default.lossTooExpensive)
            #expect(closed.closedAt == closed.updatedAt)
            #expect(closed.pipelineID == Default.toursPipeline, "143 exists in every pipeline")
        }
    }

    /// A loss reason on a lead that is not lost breaks a rule: the whole batch is refused in the shape keyed by lead id,
    /// naming only that lead; a type error in the same batch is reported first, in the `validation-errors` shape.
    @Test func aBatchBreakingARuleIsRefusedByLeadIDAfterTypeErrors() async throws {
        try await Amo.withSimulator { simulator, client in
            let open = simulator.allLeads().filter { $0.statusID != 143 }.prefix(2).map(\.id)
            let before = simulator.allLeads()
            let ruled = try await client.send(
                .PATCH, "/api/v4/leads",
                json: """
                    [{"id":\(open[0]),"price":1},{"id":\(open[1]),"loss_reason_id":\(Default.lossNoAnswer)}]
                    """)
            #expect(ruled.status == 400)
            #expect(ruled.object.jsonObject("errors").keys.sorted() == [String(open[1])])
            #expect(ruled.object["validation-errors"] == nil)
            #expect(ruled.object.jsonString("detail") == "Invalid request body")
            #expect(simulator.allLeads() == before, "nothing of the batch is written")

            let typed = try await client.send(
                .PATCH, "/api/v4/leads",
                json: """
                    [{"id":\(open[0]),"price":"a lot"},{"id":\(open[1]),"loss_reason_id":\(Default.lossNoAnswer)}]
                    """)
            #expect(typed.status == 400)
            #expect(typed.object.jsonArray("validation-errors").map { $0.jsonString("request_id") } == ["0"])
            #expect(typed.object["errors"] == nil)
            #expect(simulator.allLeads() == before)
        }
    }

    @Test func enumValueOutsideTheListIsNotSupportedChoiceWithItsPath() async throws {
        try await Amo.withSimulator { simulator, client in
            let count = simulator.allLeads().count
            let reply = try await client.send(
                .POST, "/api/v4/leads",
                json: """
                    [{"name":"ok"},
                     {"name":"bad","custom_fields_values":[
                       {"field_id":\(Default.travellersField),"values":[{"value":"2"}]},
                       {"field_id":\(Default.destinationField),"values":[{"value":"Марс"}]}]}]
                    """)
            #expect(reply.status == 400)
            #expect(reply.contentType == "application/problem+json")
            #expect(reply.object.jsonString("title") == "Bad Request")
            #expect(reply.object.jsonInt("status") == 400)
            #expect(reply.object.jsonString("detail") == "Request validation failed")
            let groups = reply.object.jsonArray("validation-errors")
            #expect(groups.map { $0.jsonString("request_id") } == ["1"])
            let issue = try #require(groups.first?.jsonArray("errors").first)
            #expect(issue.jsonString("code") == "NotSupportedChoice")
            #expect(issue.jsonString("path") == "custom_fields_values.1.values.0.value")
            #expect(simulator.allLeads().count == count, "the whole batch is rejected")
        }
    }

    @Test(arguments: [
        (#"{"price":"1000"}"#, "InvalidType", "price"),
        (#"{"price":10.5}"#, "InvalidType", "price"),
        (#"{"status_id":61200011}"#, "NotSupportedChoice", "status_id"),  // a Corporate status, lead in Tours
        (#"{"pipeline_id":1}"#, "NotSupportedChoice", "pipeline_id"),
        (#"{"responsible_user_id":12345}"#, "NotSupportedChoice", "responsible_user_id"),
        (#"{"custom_fields_values":[{"field_id":1,"values":[{"value":"x"}]}]}"#, "NotSupportedChoice", "custom_fields_values.0.field_id"),
        (
            #"{"custom_fields_values":[{"field_id":880004,"values":[{"enum_id":7}]}]}"#, "NotSupportedChoice",
            "custom_fields_values.0.values.0.enum_id"
        ),
    ])
    func invalidWritesAnswer400WithCodeAndPath(body: String, code: String, path: String) async throws {
        try await Amo.withSimulator { simulator, client in
            let lead = try #require(simulator.allLeads().first { $0.pipelineID == Default.toursPipeline })
            let reply = try await client.send(.PATCH, "/api/v4/leads/\(lead.id)", json: body)
            #expect(reply.status == 400)
            let issue = reply.object.jsonArray("validation-errors").first?.jsonArray("errors").first
            #expect(issue?.jsonString("code") == code)
            #expect(issue?.jsonString("path") == path)
            #expect(simulator.lead(id: lead.id) == lead)
        }
    }

    @Test func movingToAnotherPipelineNeedsItsPipelineID() async throws {
        try await Amo.withSimulator { simulator, client in
            let lead = try #require(simulator.allLeads().first { $0.pipelineID == Default.toursPipeline && $0.statusID != 142 })
            let moved = try await client.send(
                .PATCH, "/api/v4/leads/\(lead.id)",
                json: """
                    {"pipeline_id":\(Default.corporatePipeline),"status_id":\(Default.corporateContract)}
                    """)
            #expect(moved.status == 200)
            #expect(simulator.lead(id: lead.id)?.pipelineID == Default.corporatePipeline)
            #expect(simulator.lead(id: lead.id)?.statusID == Default.corporateContract)
        }
    }
}
