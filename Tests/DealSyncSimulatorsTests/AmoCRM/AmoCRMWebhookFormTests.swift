import DealSyncCore
import DealSyncSimulators
import DealSyncTestSupport
import Foundation
import NIOHTTP1
import Testing

/// Legacy v2 webhook forms: field names, actions, several leads per POST, bare dates, echoes of API writes.
struct AmoCRMWebhookFormTests {
    typealias Default = Amo.Default

    /// A simulator subscribed (to every lead event) to a receiver; the test gets both.
    static func withHooked<T: Sendable>(
        seed: UInt64 = 7, _ body: @Sendable (AmoCRMSimulator, AmoClient, HookReceiver, String) async throws -> T
    ) async throws -> T {
        let receiver = HookReceiver(prefix: "hooks")
        return try await receiver.withRunning { receiverBase in
            var configuration = Amo.configuration(seed: seed)
            configuration.webhooks = [receiverBase + "/hooks/main"]
            let ready = configuration
            return try await Amo.withSimulator(ready) { simulator, client in
                try await body(simulator, client, receiver, receiverBase)
            }
        }
    }

    static func form(_ received: HookReceiver.Received) throws -> PHPForm.Map {
        try PHPForm.parse(received.body)
    }

    @Test func anAPICreateFiresAnAddWithLegacyFieldsAndIsAnEchoOfARobot() async throws {
        try await Self.withHooked { simulator, client, receiver, _ in
            let reply = try await client.send(
                .POST, "/api/v4/leads",
                json: """
                    [{"name":"Эхо","price":5000,"updated_by":0,"custom_fields_values":[
                      {"field_id":\(Default.departureDateField),"values":[{"value":1790000000}]},
                      {"field_id":\(Default.destinationField),"values":[{"value":"Египет"}]},
                      {"field_id":\(Default.travellersField),"values":[{"value":2}]}]}]
                    """)
            let id = try #require(reply.object.jsonObject("_embedded").jsonArray("leads").first?.jsonInt("id"))
            try await eventually("the add webhook", timeout: .seconds(3), every: .milliseconds(10)) { receiver.received.count == 1 }
            let received = receiver.received[0]
            #expect(received.contentType == "application/x-www-form-urlencoded")
            #expect(received.userAgent == "amoCRM-Webhooks/3.0")
            #expect(received.requestID.flatMap(UUID.init(uuidString:)) != nil)
            #expect(received.body.contains("leads%5Badd%5D%5B0%5D%5Bid%5D="), "PHP http_build_query escapes brackets")

            let form = try Self.form(received)
            let add = try #require(form.amoLeads("add").first)
            let lead = try #require(simulator.lead(id: id))
            #expect(add.amoText("id") == String(id))
            #expect(add.amoText("name") == "Эхо")
            #expect(add.amoText("price") == "5000")
            #expect(add.amoText("status_id") == String(lead.statusID))
            #expect(add.amoText("pipeline_id") == String(Default.toursPipeline))
            #expect(add.amoText("responsible_user_id") == String(Default.admin))
            #expect(add.amoText("modified_user_id") == "0", "updated_by: 0 comes back as a robot's change")
            #expect(add.amoText("created_user_id") == String(Default.admin))
            #expect(add.amoText("last_modified") == String(lead.updatedAt))
            #expect(add.amoText("date_create") == String(lead.createdAt))
            #expect(add.amoText("created_at") == String(lead.createdAt))
            #expect(add.amoText("updated_at") == String(lead.updatedAt))
            #expect(add.amoText("account_id") == "31415926")
            #expect(add["custom_fields_values"] == nil)

            let fields = add["custom_fields"]?.map?.indexed.compactMap(\.map) ?? []
            let date = try #require(fields.first { $0.amoText("id") == String(Default.departureDateField) })
            #expect(date["values"]?["0"]?.string == "1790000000", "a date arrives as a bare [values][0]")
            let select = try #require(fields.first { $0.amoText("id") == String(Default.destinationField) })
            #expect(select.amoText("name") == "Направление")
            #expect(select["values"]?["0"]?["value"]?.string == "Египет")
            #expect(select["values"]?["0"]?["enum"]?.string == String(Default.destinationEgypt))
            let numeric = try #require(fields.first { $0.amoText("id") == String(Default.travellersField) })
            #expect(numeric["values"]?["0"]?["value"]?.string == "2")

            #expect(form["account"]?["subdomain"]?.string == "sunrisetours")
            #expect(form["account"]?["id"]?.string == "31415926")
            #expect(form["account"]?["_links"]?["self"]?.string == "https://sunrisetours.amocrm.ru")
        }
    }

    @Test func statusAndResponsibleChangesAddTheirOwnSections() async throws {
        try await Self.withHooked { simulator, client, receiver, _ in
            let lead = try #require(simulator.allLeads().first { $0.statusID == Default.newRequest })
            _ = try await client.send(
                .PATCH, "/api/v4/leads/\(lead.id)",
                json: """
                    {"status_id":\(Default.booked),"responsible_user_id":\(Default.salesAnna)}
                    """)
            try await eventually("the update webhook", timeout: .seconds(3), every: .milliseconds(10)) { receiver.received.count == 1 }
            let form = try Self.form(receiver.received[0])
            #expect(form.amoLeads("update").count == 1)
            let status = try #require(form.amoLeads("status").first)
            #expect(status.amoText("status_id") == String(Default.booked))
            #expect(status.amoText("old_status_id") == String(Default.newRequest))
            #expect(status.amoText("old_pipeline_id") == nil, "the pipeline did not change")
            let responsible = try #require(form.amoLeads("responsible").first)
            #expect(responsible.amoText("responsible_user_id") == String(Default.salesAnna))
            #expect(responsible.amoText("old_responsible_user_id") == String(lead.responsibleUserID))
            #expect(form.amoLeads("update").first?.amoText("modified_user_id") == String(Default.admin), "the token's user")
        }
    }

    @Test func aBatchWriteSendsSeveralLeadsInOnePost() async throws {
        try await Self.withHooked { simulator, client, receiver, _ in
            let ids = simulator.allLeads().prefix(3).map(\.id)
            let body = ids.map { #"{"id":\#($0),"price":777,"updated_by":0}"# }.joined(separator: ",")
            #expect(try await client.send(.PATCH, "/api/v4/leads", json: "[\(body)]").status == 200)
            try await eventually("the batch webhook", timeout: .seconds(3), every: .milliseconds(10)) { receiver.received.count == 1 }
            try await Task.sleep(for: .milliseconds(100))
            #expect(receiver.received.count == 1, "one POST for the whole batch")
            let updates = try Self.form(receiver.received[0]).amoLeads("update")
            #expect(updates.compactMap { $0.amoText("id") } == ids.map(String.init))
            #expect(updates.allSatisfy { $0.amoText("price") == "777" && $0.amoText("modified_user_id") == "0" })
        }
    }

    @Test func salespersonDeleteAndRestoreUseTheirShapes() async throws {
        try await Self.withHooked { simulator, client, receiver, _ in
            let lead = try #require(simulator.allLeads().first)
            #expect(try await client.send(.DELETE, "/_sim/leads/\(lead.id)?user_id=\(Default.salesBoris)", token: nil).status == 204)
            try await eventually("the delete webhook", timeout: .seconds(3), every: .milliseconds(10)) { receiver.received.count == 1 }
            let delete = try #require(try Self.form(receiver.received[0]).amoLeads("delete").first)
            #expect(Set(delete.keys) == ["id", "status_id", "pipeline_id"])
            #expect(delete.amoText("id") == String(lead.id))

            #expect(try await client.send(.POST, "/_sim/leads/\(lead.id)/restore?user_id=\(Default.salesBoris)", token: nil).status == 204)
            try await eventually("the restore webhook", timeout: .seconds(3), every: .milliseconds(10)) { receiver.received.count == 2 }
            let restore = try #require(try Self.form(receiver.received[1]).amoLeads("restore").first)
            #expect(restore.amoText("id") == String(lead.id))
            #expect(restore.amoText("modified_user_id") == String(Default.salesBoris))
            #expect(restore.amoText("name") == lead.name)
            #expect(try await client.get("/api/v4/leads/\(lead.id)").status == 200)
        }
    }

    @Test func aSalespersonEditViaControlRouteIsAnUpdateByThatUser() async throws {
        try await Self.withHooked { simulator, client, receiver, _ in
            let lead = try #require(simulator.allLeads().first { $0.statusID == Default.newRequest })
            let reply = try await client.send(
                .PATCH, "/_sim/leads/\(lead.id)",
                json: """
                    {"user_id":\(Default.salesBoris),"name":"Петров, Шарм","status_id":142}
                    """, token: nil)
            #expect(reply.status == 200)
            try await eventually("the webhook", timeout: .seconds(3), every: .milliseconds(10)) { receiver.received.count == 1 }
            let form = try Self.form(receiver.received[0])
            #expect(form.amoLeads("update").first?.amoText("modified_user_id") == String(Default.salesBoris))
            #expect(form.amoLeads("status").first?.amoText("status_id") == "142")
            #expect(simulator.lead(id: lead.id)?.closedAt != nil)
            let invalid = try await client.send(.PATCH, "/_sim/leads/\(lead.id)", json: #"{"status_id":1}"#, token: nil)
            #expect(invalid.status == 400)
        }
    }

    /// Tags travel inside each lead block as a nested list (`[tags][i][id]`, `[tags][i][name]`); a delete carries none.
    @Test func aTaggedLeadsBlocksCarryItsTags() async throws {
        try await Self.withHooked { simulator, client, receiver, _ in
            let lead = try #require(simulator.allLeads().first { !$0.tags.isEmpty })
            #expect(lead.tags.map(\.name) == ["семья", "горящий"])
            let reply = try await client.send(
                .PATCH, "/api/v4/leads/\(lead.id)",
                json: """
                    {"status_id":\(Default.booked),"tags_to_add":[{"name":"VIP"}],"tags_to_delete":[{"id":\(lead.tags[0].id)}]}
                    """)
            #expect(reply.status == 200)
            let tags = try #require(simulator.lead(id: lead.id)?.tags)
            #expect(tags.map(\.name) == ["горящий", "VIP"])
            #expect(tags[0].id == lead.tags[1].id, "a known tag keeps its id")
            #expect(tags[1].id > lead.tags.map(\.id).max()!, "a new tag gets a new one")
            try await eventually("the webhook", timeout: .seconds(3), every: .milliseconds(10)) { receiver.received.count == 1 }
            let form = try Self.form(receiver.received[0])
            for action in ["update", "status"] {
                let block = try #require(form.amoLeads(action).first)
                let sent = block["tags"]?.map?.indexed.compactMap(\.map) ?? []
                #expect(sent.map { $0.amoText("id") } == tags.map { String($0.id) }, "\(action)")
                #expect(sent.map { $0.amoText("name") } == tags.map(\.name), "\(action)")
                #expect(sent.allSatisfy { Set($0.keys) == ["id", "name"] })
            }

            #expect(try await client.send(.DELETE, "/_sim/leads/\(lead.id)", token: nil).status == 204)
            try await eventually("the delete webhook", timeout: .seconds(3), every: .milliseconds(10)) { receiver.received.count == 2 }
            #expect(try Self.form(receiver.received[1]).amoLeads("delete").first?["tags"] == nil)
        }
    }

    @Test func theAutomationFormCarriesIDsOnly() async throws {
        try await Self.withHooked { simulator, client, receiver, _ in
            let lead = try #require(simulator.allLeads().first { $0.statusID == Default.offerSent })
            #expect(
                try await client.send(
                    .POST, "/_sim/automation",
                    json: """
                        {"lead_id":\(lead.id),"old_status_id":\(Default.newRequest)}
                        """, token: nil
                ).status == 204)
            try await eventually("the automation webhook", timeout: .seconds(3), every: .milliseconds(10)) { receiver.received.count == 1 }
            let form = try Self.form(receiver.received[0])
            let status = try #require(form.amoLeads("status").first)
            #expect(Set(status.keys) == ["id", "status_id", "pipeline_id", "old_status_id", "old_pipeline_id"])
            #expect(status.amoText("old_status_id") == String(Default.newRequest))
            #expect(status.amoText("status_id") == String(Default.offerSent))
            #expect(Set(form["account"]?.map?.keys ?? []) == ["id", "subdomain"])
        }
    }
}
