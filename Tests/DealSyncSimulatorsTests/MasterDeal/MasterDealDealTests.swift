import DealSyncSimulators
import DealSyncTestSupport
import Foundation
import NIOHTTP1
import Testing

/// The deal resource: validation, merge-patch semantics, notes, control routes, seeds.
struct MasterDealDealTests {
    @Test func createValidatesItsBody() async throws {
        let simulator = MasterDealSimulator(configuration: masterDealTestConfiguration())
        try await simulator.withRunning { baseURL in
            let client = MasterDealTestClient(baseURL: baseURL)
            let cases: [(String, String)] = [
                (#"{"opportunity_name":"n","stage":"lead"}"#, "/account_id"),
                (#"{"account_id":"a","opportunity_name":"n","stage":"lead","amount":"10"}"#, "/currency"),
                (#"{"account_id":"a","opportunity_name":"n","stage":"lead","amount":10,"currency":"RUB"}"#, "/amount"),
                (#"{"account_id":"a","opportunity_name":"n","stage":"lead","currency":"rub"}"#, "/currency"),
                (#"{"account_id":"a","opportunity_name":"n","stage":"lead","sla_due_at":"2026-11-30T18:00:00"}"#, "/sla_due_at"),
                (#"{"account_id":"a","opportunity_name":"n","stage":"lead","attributes":{"x":[1]}}"#, "/attributes/x"),
                (#"{"account_id":"a","opportunity_name":"n","stage":"lead","id":"md-mine"}"#, "/id"),
            ]
            for (body, pointer) in cases {
                let response = try await client.write(.POST, "/v1/deals", body)
                #expect(response.status == 422, "\(body)")
                #expect(response.problemSlug == "validation-error", "\(body)")
                #expect(try response.json["pointer"]?.stringValue == pointer, "\(body)")
            }
            #expect(simulator.allDeals().isEmpty)
        }
    }

    @Test func aCreatedDealHasTheContractedShape() async throws {
        let simulator = MasterDealSimulator(configuration: masterDealTestConfiguration())
        try await simulator.withRunning { baseURL in
            let client = MasterDealTestClient(baseURL: baseURL)
            let deal = try await client.create(extra: #","amount":"150000","currency":"RUB","attributes":{"pax":2,"gone":null}"#)
            let id = try #require(deal["id"]?.stringValue)
            #expect(id.wholeMatch(of: /md-[0-9a-f]{8}/) != nil)
            #expect(deal["amount"] == "150000.00")
            #expect(deal["owner_id"] == .null)
            #expect(deal["version"] == .number(1))
            #expect(deal["attributes"] == ["pax": 2])
            let created = try #require(deal["created_at"]?.stringValue)
            #expect(created.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil)
            #expect(deal["updated_at"]?.stringValue == created)
        }
    }

    @Test func mergePatchSetsClearsAndMergesAttributes() async throws {
        let simulator = MasterDealSimulator(configuration: masterDealTestConfiguration())
        try await simulator.withRunning { baseURL in
            let client = MasterDealTestClient(baseURL: baseURL)
            let id = try #require(
                try await client.create(
                    extra: #","amount":"10.5","currency":"RUB","owner_id":"u-olga","attributes":{"keep":"k","drop":true,"n":1}"#
                )["id"]?.stringValue)
            let response = try await client.write(
                .PATCH, "/v1/deals/\(id)",
                #"{"owner_id":null,"attributes":{"drop":null,"n":2.5,"new":"v"}}"#)
            #expect(response.status == 200)
            let deal = try response.json
            #expect(deal["owner_id"] == .null)
            #expect(deal["amount"] == "10.50")
            #expect(deal["attributes"] == ["keep": "k", "n": 2.5, "new": "v"])
            // Clearing the currency while an amount remains breaks "amount requires currency".
            let orphan = try await client.write(.PATCH, "/v1/deals/\(id)", #"{"currency":null}"#)
            #expect(orphan.status == 422)
            let unknown = try await client.write(.PATCH, "/v1/deals/\(id)", #"{"updated_at":"2026-01-01T00:00:00Z"}"#)
            #expect(unknown.status == 422)
            #expect(try unknown.json["pointer"] == "/updated_at")
            let malformed = try await client.write(.PATCH, "/v1/deals/\(id)", #"{"opportunity_name":"#)
            #expect(malformed.status == 400)
            #expect(malformed.problemSlug == "malformed-json")
            #expect(simulator.deal(id: id)?.version == 2)
        }
    }

    @Test func notesAreStoredWithoutChangingTheDeal() async throws {
        let simulator = MasterDealSimulator(configuration: masterDealTestConfiguration())
        try await simulator.withRunning { baseURL in
            let client = MasterDealTestClient(baseURL: baseURL)
            let id = try #require(try await client.create()["id"]?.stringValue)
            let note = try await client.write(.POST, "/v1/deals/\(id)/notes", #"{"text":"Called, will decide Friday"}"#)
            #expect(note.status == 201)
            #expect(try note.json["deal_id"]?.stringValue == id)
            #expect(try note.json["text"] == "Called, will decide Friday")
            #expect(simulator.notes(dealID: id).count == 1)
            #expect(simulator.deal(id: id)?.version == 1)
            #expect(try await client.write(.POST, "/v1/deals/\(id)/notes", #"{"text":""}"#).status == 422)
            #expect(try await client.write(.POST, "/v1/deals/md-none/notes", #"{"text":"x"}"#).status == 404)
        }
    }

    @Test func controlRoutesActAsAMasterDealUser() async throws {
        let receiver = MasterDealEventReceiver()
        try await receiver.withSimulator { simulator, api, _ in
            let ui = MasterDealTestClient(baseURL: api.baseURL, token: nil)
            let created = try await ui.send(
                .POST, "/_sim/deals",
                body: #"{"id":"md-0000beef","account_id":"a","opportunity_name":"UI deal","stage":"lead"}"#)
            #expect(created.status == 201)
            let edited = try await ui.send(.PATCH, "/_sim/deals/md-0000beef", body: #"{"stage":"qualified","owner_id":"u-ivan"}"#)
            #expect(edited.status == 200)
            #expect(try edited.json["version"] == .number(2))
            let emitted = try await ui.send(.POST, "/_sim/deals/md-0000beef/emit", body: #"{"type":"BillingReady"}"#)
            #expect(emitted.status == 200)
            #expect(try await ui.send(.POST, "/_sim/deals/md-0000beef/emit", body: #"{"type":"StageChanged"}"#).status == 422)
            let received = try await receiver.waitFor(4)
            #expect(try received.map { try $0.json["source"] } == Array(repeating: "masterdeal-ui", count: 4))
            let list = try await ui.get("/_sim/deals")
            #expect(try list.json["items"]?.arrayValue?.count == 1)
            // Deals created since a moment: this one from its own creation on, none after it.
            let createdAt = try #require(simulator.deal(id: "md-0000beef")?.createdAt)
            #expect(try await ui.get("/_sim/deals?created_since=\(createdAt)").json["items"]?.arrayValue?.count == 1)
            #expect(try await ui.get("/_sim/deals?created_since=\(createdAt + 1)").json["items"]?.arrayValue?.count == 0)
            let events = try await ui.get("/_sim/events")
            #expect(try events.json["items"]?.arrayValue?.count == 4)
            // The API sees the user's change.
            #expect(try await api.get("/v1/deals/md-0000beef").json["stage"] == "qualified")
            #expect(simulator.stats.userWrites == 2)
        }
    }

    @Test func seedDealsLoadFromAJSONFile() throws {
        let directory = try ContractCheck.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("seed.json")
        try Data(
            """
            {"items": [
              {"id": "md-00000001", "account_id": "acc", "opportunity_name": "Seeded", "stage": "won",
               "amount": "99.9", "currency": "USD", "updated_at": "2026-11-23T10:00:00.123Z", "version": 4},
              {"account_id": "acc", "opportunity_name": "Minimal", "stage": "lead"}
            ]}
            """.utf8
        ).write(to: file)
        let deals = try MasterDealSimulator.loadSeedDeals(from: file.path)
        #expect(deals.count == 2)
        #expect(deals[0].id == "md-00000001")
        #expect(deals[0].amount == "99.90")
        #expect(deals[0].version == 4)
        #expect(deals[0].updatedAt == 1_795_428_000_123)
        #expect(deals[1].version == 1)
        #expect(deals[1].id.hasPrefix("md-"))
        try Data(#"[{"account_id":"acc","stage":"lead"}]"#.utf8).write(to: file)
        #expect(throws: SimulatorError.self) { try MasterDealSimulator.loadSeedDeals(from: file.path) }
    }
}
