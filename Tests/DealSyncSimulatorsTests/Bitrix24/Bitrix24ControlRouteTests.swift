import DealSyncSimulators
import Foundation
import NIOHTTP1
import Testing

/// The `/_sim/` routes the CLI and other tests drive: the salesperson, stats, faults, clock.
struct Bitrix24ControlRouteTests {
    typealias Default = BitrixTest.Default

    @Test func aSalespersonCreatesEditsMovesAndDeletesOverHTTP() async throws {
        try await BitrixTest.withSimulator { simulator, client in
            let created = try await client.send(
                .POST, "/_sim/deals",
                json: """
                    {"user_id":15,"fields":{"TITLE":"Пробное занятие","CATEGORY_ID":2,"UF_CRM_PROGRAM":42}}
                    """)
            #expect(created.status == 201)
            #expect(created.object.bitrixString("ID") == "106" && created.object.bitrixString("CREATED_BY_ID") == "15")
            let edited = try await client.send(.PATCH, "/_sim/deals/106", json: #"{"user_id":12,"STAGE_ID":"C2:EXECUTING"}"#)
            #expect(edited.object.bitrixString("STAGE_ID") == "C2:EXECUTING" && edited.object.bitrixString("MODIFY_BY_ID") == "12")
            let moved = try await client.send(.POST, "/_sim/deals/106/move", json: #"{"category_id":0}"#)
            #expect(moved.object.bitrixString("STAGE_ID") == "NEW" && moved.object.bitrixString("CATEGORY_ID") == "0")
            #expect(try await client.send(.POST, "/_sim/deals/106/move", json: #"{"category_id":7}"#).status == 404)
            let all = try await client.get("/_sim/deals")
            #expect((all.json as? [[String: Any]])?.count == 6)
            #expect(try await client.send(.DELETE, "/_sim/deals/106?user_id=12").status == 204)
            #expect(try await client.send(.DELETE, "/_sim/deals/106").status == 404)
            #expect(try await client.send(.PATCH, "/_sim/deals/106", json: "{}").status == 404)
            #expect(simulator.allDeals().count == 5)
        }
    }

    @Test func statsCountRequestsByMethodAndStatus() async throws {
        try await BitrixTest.withSimulator { _, client in
            _ = try await client.call("crm.deal.get", json: #"{"id":101}"#)
            _ = try await client.call("crm.deal.get", json: #"{"id":999}"#)
            _ = try await client.call("batch", json: #"{"cmd":{"a":"crm.deal.list","b":"user.get"}}"#)
            let stats = try await client.get("/_sim/stats").object
            #expect(stats.bitrixInt("requests_total") == 3)
            let byMethod = stats.bitrixObject("requests_by_method")
            #expect(byMethod.bitrixInt("crm.deal.get") == 2 && byMethod.bitrixInt("batch") == 1)
            #expect(byMethod.bitrixInt("crm.deal.list") == 1 && byMethod.bitrixInt("user.get") == 1)
            #expect(stats.bitrixObject("requests_by_status").bitrixInt("400") == 1)
            #expect(stats.bitrixInt("batch_commands") == 2)
        }
    }

    @Test func faultsReadBackAndTheClockMoves() async throws {
        try await BitrixTest.withSimulator { simulator, client in
            let put = try await client.send(.PUT, "/_sim/faults", json: #"{"latency_ms":5,"moved_to":"https://elsewhere.example"}"#)
            #expect(put.object.bitrixInt("latency_ms") == 5 && put.object.bitrixString("moved_to") == "https://elsewhere.example")
            #expect(try await client.get("/_sim/faults").object.bitrixString("moved_to") == "https://elsewhere.example")
            _ = try await client.send(.PUT, "/_sim/faults", json: "{}")
            let before = simulator.now
            let advanced = try await client.send(.POST, "/_sim/clock/advance", json: #"{"seconds":86400}"#)
            #expect((advanced.object.bitrixInt("now") ?? 0) >= before + 86_400)
            let frozen = try await client.send(.POST, "/_sim/clock/freeze", json: #"{"at":1800000000}"#)
            #expect(frozen.object.bitrixInt("now") == 1_800_000_000)
            _ = try await client.call("crm.deal.update", json: #"{"id":101,"fields":{}}"#)
            #expect(simulator.deal(id: 101)?.dateModify == 1_800_000_000)
            let get = try await client.call("crm.deal.get", json: #"{"id":101}"#)
            #expect(get.resultObject.bitrixString("DATE_MODIFY") == "2027-01-15T11:00:00+03:00")
        }
    }
}
