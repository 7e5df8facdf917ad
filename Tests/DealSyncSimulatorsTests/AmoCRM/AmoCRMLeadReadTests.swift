import DealSyncSimulators
import Foundation
import NIOHTTP1
import Testing

/// `GET /api/v4/leads` and `GET /api/v4/leads/{id}`: envelope, paging, 204s, filters, order, `query`.
struct AmoCRMLeadReadTests {
    @Test func listPagesWithNextLinkUntilTheLastPageThen204() async throws {
        try await Amo.withSimulator { simulator, client in
            let live = simulator.allLeads(includingDeleted: false).map(\.id)
            #expect(live.count == 4)

            let first = try await client.get("/api/v4/leads?limit=3&page=1")
            #expect(first.status == 200)
            #expect(first.contentType == "application/hal+json")
            #expect(first.header("X-Request-Id")?.count == 32)
            #expect(first.object.keys.sorted() == ["_embedded", "_links"], "no _page at the top")
            #expect(first.object.jsonObject("_embedded").jsonArray("leads").compactMap { $0.jsonInt("id") } == Array(live.prefix(3)))
            let next = try #require(first.object.jsonObject("_links").jsonObject("next").jsonString("href"))
            #expect(next.hasSuffix("limit=3&page=2"))

            #expect(next.hasPrefix("https://"), "amoCRM's links say https")
            let second = try await client.get(String(next[try #require(next.range(of: "/api/v4/"))!.lowerBound...]))
            #expect(second.status == 200)
            #expect(second.object.jsonObject("_embedded").jsonArray("leads").compactMap { $0.jsonInt("id") } == [live[3]])
            #expect(second.object.jsonObject("_links")["next"] == nil, "no next link on the last page")
            #expect(second.object.jsonObject("_links").jsonObject("prev").jsonString("href")?.hasSuffix("page=1") == true)

            let beyond = try await client.get("/api/v4/leads?limit=3&page=3")
            #expect(beyond.status == 204)
            #expect(beyond.body.isEmpty)
        }
    }

    @Test func leadShapeHasAmoFieldsAndNumbersAsStrings() async throws {
        try await Amo.withSimulator { simulator, client in
            let seeded = try #require(simulator.allLeads().first { $0.name.contains("Анталья") })
            let reply = try await client.get("/api/v4/leads/\(seeded.id)")
            #expect(reply.status == 200)
            let lead = reply.object
            #expect(
                lead.keys.sorted() == [
                    "_embedded", "_links", "account_id", "closed_at", "closest_task_at", "created_at", "created_by",
                    "custom_fields_values", "group_id", "id", "is_deleted", "labor_cost", "loss_reason_id", "name",
                    "pipeline_id", "price", "responsible_user_id", "score", "status_id", "updated_at", "updated_by",
                ],
                "no source_id or is_price_modified_by_robot unless asked for")
            #expect(lead.jsonInt("price") == 185_000)
            #expect(lead.jsonInt("account_id") == 31_415_926)
            #expect(lead.jsonObject("_embedded")["tags"] is [Any])
            let fields = lead.jsonArray("custom_fields_values")
            let travellers = try #require(fields.first { $0.jsonInt("field_id") == Amo.Default.travellersField })
            #expect(travellers.jsonString("field_type") == "numeric")
            #expect(travellers.jsonArray("values").first?["value"] as? String == "4", "numeric values come back as strings")
            let destination = try #require(fields.first { $0.jsonInt("field_id") == Amo.Default.destinationField })
            #expect(destination.jsonArray("values").first?.jsonInt("enum_id") == Amo.Default.destinationTurkey)
            #expect(destination.jsonArray("values").first?.jsonString("value") == "Турция")
            let departure = try #require(fields.first { $0.jsonInt("field_id") == Amo.Default.departureDateField })
            #expect(departure.jsonArray("values").first?.jsonInt("value") == 1_780_272_000)
        }
    }

    @Test func missingAndDeletedLeadsAnswer204() async throws {
        try await Amo.withSimulator { simulator, client in
            #expect(try await client.get("/api/v4/leads/999999999").status == 204)
            let lead = try #require(simulator.allLeads().first)
            #expect(simulator.deleteAsSalesperson(leadID: lead.id, userID: Amo.Default.salesAnna))
            let gone = try await client.get("/api/v4/leads/\(lead.id)")
            #expect(gone.status == 204)
            #expect(gone.body.isEmpty)
            let list = try await client.get("/api/v4/leads?filter[id][]=\(lead.id)")
            #expect(list.status == 204, "deleted leads are gone from lists too")
            #expect(simulator.lead(id: lead.id)?.isDeleted == true)
        }
    }

    @Test func filterByUpdatedAtIsInclusiveAndOrderFollowsTheRequest() async throws {
        try await Amo.withSimulator { simulator, client in
            let leads = simulator.allLeads(includingDeleted: false)
            let stamps = leads.map(\.updatedAt).sorted()
            let from = stamps[1], to = stamps[2]
            let reply = try await client.get(
                "/api/v4/leads?filter%5Bupdated_at%5D%5Bfrom%5D=\(from)&filter%5Bupdated_at%5D%5Bto%5D=\(to)&order%5Bupdated_at%5D=desc")
            #expect(reply.status == 200)
            let got = reply.object.jsonObject("_embedded").jsonArray("leads")
            #expect(got.compactMap { $0.jsonInt("updated_at") } == [to, from])

            let asc = try await client.get("/api/v4/leads?filter[updated_at][from]=\(from)&order[updated_at]=asc")
            let ascending = asc.object.jsonObject("_embedded").jsonArray("leads").compactMap { $0.jsonInt("updated_at") }
            #expect(ascending == stamps.filter { $0 >= from })

            let none = try await client.get("/api/v4/leads?filter[updated_at][from]=\(stamps.last! + 1)")
            #expect(none.status == 204)

            let ids = [leads[0].id, leads[2].id]
            let byID = try await client.get("/api/v4/leads?filter[id][]=\(ids[0])&filter[id][]=\(ids[1])&order[id]=desc")
            #expect(byID.object.jsonObject("_embedded").jsonArray("leads").compactMap { $0.jsonInt("id") } == ids.reversed())
        }
    }

    @Test func queryFindsALeadByItsMasterDealID() async throws {
        try await Amo.withSimulator { simulator, client in
            let created = try simulator.createAsSalesperson(
                userID: Amo.Default.salesAnna,
                AmoLeadFields(
                    name: "Ковалёвы, Рим", customFields: [Amo.Default.masterDealIDField: ["md-7f3e91"]]))
            let found = try await client.get("/api/v4/leads?query=md-7f3e91")
            #expect(found.status == 200)
            #expect(found.object.jsonObject("_embedded").jsonArray("leads").compactMap { $0.jsonInt("id") } == [created.id])
            let byName = try await client.get("/api/v4/leads?query=%D1%80%D0%B8%D0%BC")  // "рим", another case
            #expect(byName.object.jsonObject("_embedded").jsonArray("leads").compactMap { $0.jsonInt("id") } == [created.id])
            #expect(try await client.get("/api/v4/leads?query=md-000000").status == 204)
        }
    }

    @Test func aNewLeadIsFoundByQueryOnlyAfterTheSearchIndexCatchesUp() async throws {
        // Polls `query` and judges each answer by when it was sent and received, so that a slow machine can delay
        // the answers but not fail the test: a query answered before the lag had passed must miss the lead, one
        // sent after it had passed must find it.
        let lag = Duration.milliseconds(1000)
        var configuration = Amo.configuration()
        configuration.searchIndexLag = lag
        try await Amo.withSimulator(configuration) { simulator, client in
            let beforeCreate = ContinuousClock.now
            let created = try await client.send(
                .POST, "/_sim/leads",
                json: """
                    {"user_id":\(Amo.Default.salesBoris),"name":"Лаг","custom_fields_values":[
                     {"field_id":\(Amo.Default.masterDealIDField),"values":[{"value":"md-lag-1"}]}]}
                    """, token: nil)
            let afterCreate = ContinuousClock.now
            #expect(created.status == 201)
            let id = try #require(created.object.jsonInt("id"))
            #expect(simulator.lead(id: id)?.createdBy == Amo.Default.salesBoris)
            #expect(try await client.get("/api/v4/leads/\(id)").status == 200, "reads by id see it at once")
            var lateMiss: Duration?  // a query sent after the lag had passed that still missed the lead
            while true {
                let sent = ContinuousClock.now
                let reply = try await client.get("/api/v4/leads?query=md-lag-1")
                let answered = ContinuousClock.now
                if reply.status == 204 {
                    if sent >= afterCreate + lag, lateMiss == nil { lateMiss = sent - afterCreate }
                } else {
                    #expect(answered >= beforeCreate + lag, "found \(answered - beforeCreate) after the create")
                    #expect(reply.object.jsonObject("_embedded").jsonArray("leads").compactMap { $0.jsonInt("id") } == [id])
                    break
                }
                guard ContinuousClock.now < afterCreate + lag + .seconds(5) else {
                    Issue.record("never found")
                    break
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(lateMiss == nil, "still not found \(lateMiss ?? .zero) after the create")
        }
    }

    @Test func referenceDataHasWonAndLostInEveryPipeline() async throws {
        try await Amo.withSimulator { _, client in
            let reply = try await client.get("/api/v4/leads/pipelines")
            #expect(reply.status == 200)
            let pipelines = reply.object.jsonObject("_embedded").jsonArray("pipelines")
            #expect(pipelines.count == 2)
            for pipeline in pipelines {
                let statuses = pipeline.jsonObject("_embedded").jsonArray("statuses")
                #expect(Set(statuses.compactMap { $0.jsonInt("id") }).isSuperset(of: [142, 143]))
                #expect(
                    statuses.allSatisfy {
                        $0.jsonInt("pipeline_id") == pipeline.jsonInt("id") && $0["type"] is Int && $0["color"] is String
                    })
            }
            let users = try await client.get("/api/v4/users")
            #expect(users.object.jsonInt("_total_items") == 3)
            #expect(users.object.jsonObject("_embedded").jsonArray("users").first?.jsonObject("rights")["is_admin"] as? Bool == true)
            let fields = try await client.get("/api/v4/leads/custom_fields")
            let select = fields.object.jsonObject("_embedded").jsonArray("custom_fields").first { $0.jsonString("type") == "select" }
            #expect(select?.jsonArray("enums").count == 4)
            #expect(try await client.get("/api/v4/leads", token: nil).status == 401)
        }
    }
}
