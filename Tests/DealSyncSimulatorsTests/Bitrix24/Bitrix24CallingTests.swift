import DealSyncSimulators
import Foundation
import NIOHTTP1
import Testing

/// How a portal is called: webhook or OAuth paths, parameters as JSON, form or query string, the envelope.
struct Bitrix24CallingTests {
    typealias Default = BitrixTest.Default

    /// The same list request in the three encodings a portal accepts.
    @Test func jsonFormAndQueryStringGiveTheSameResult() async throws {
        try await BitrixTest.withSimulator { _, client in
            let json = try await client.call(
                "crm.deal.list",
                json: """
                    {"filter":{"CATEGORY_ID":2,">=OPPORTUNITY":10000},"order":{"OPPORTUNITY":"DESC"},"select":["ID","TITLE","OPPORTUNITY"]}
                    """)
            let bracketKeys =
                "filter%5BCATEGORY_ID%5D=2&filter%5B%3E%3DOPPORTUNITY%5D=10000&order%5BOPPORTUNITY%5D=DESC"
                + "&select%5B%5D=ID&select%5B%5D=TITLE&select%5B%5D=OPPORTUNITY"
            let form = try await client.call("crm.deal.list", form: bracketKeys)
            let query = try await client.call("crm.deal.list.json", query: bracketKeys)
            for reply in [json, form, query] {
                #expect(reply.status == 200)
                #expect(reply.contentType == "application/json; charset=utf-8")
                #expect(reply.resultList.compactMap { $0.bitrixString("ID") } == ["102", "101"])
                #expect(reply.resultList.first?.keys.sorted() == ["ID", "OPPORTUNITY", "TITLE"])
                #expect(reply.object.bitrixInt("total") == 2)
            }
            #expect(json.resultList.first?.bitrixString("OPPORTUNITY") == "32000.00")
        }
    }

    @Test func theEnvelopeCarriesTimeAndListsCarryTotalButNextOnlyWhenMoreRowsExist() async throws {
        try await BitrixTest.withSimulator { _, client in
            let reply = try await client.call("crm.deal.get", json: #"{"id":101}"#)
            #expect(Set(reply.object.keys) == ["result", "time"])
            let time = reply.time
            for key in ["start", "finish", "duration", "processing", "date_start", "date_finish", "operating"] {
                #expect(time[key] != nil, "time.\(key)")
            }
            let start = try #require(time["start"] as? Double)
            #expect(abs(start - Date().timeIntervalSince1970) < 5)
            #expect((time.bitrixString("date_start") ?? "").hasSuffix("+03:00"))
            let list = try await client.call("crm.deal.list", json: "{}")
            #expect(list.object.bitrixInt("total") == 5)
            #expect(list.object["next"] == nil)
        }
    }

    @Test func aWrongWebhookCodeOrUserIsRefusedWith401() async throws {
        try await BitrixTest.withSimulator { _, client in
            for prefix in ["/rest/1/wrong-code", "/rest/12/\(Default.webhookCode)"] {
                let reply = try await client.call("crm.deal.get", json: #"{"id":101}"#, prefix: prefix)
                #expect(reply.status == 401)
                #expect(reply.error == "NO_AUTH_FOUND")
                #expect(reply.errorDescription == "Wrong authorization data")
            }
            let noToken = try await client.send(.POST, "/rest/crm.deal.get", json: #"{"id":101}"#)
            #expect(noToken.status == 401 && noToken.error == "NO_AUTH_FOUND")
            let unknownToken = try await client.app("crm.deal.get", json: #"{"id":101}"#, token: "forged")
            #expect(unknownToken.status == 401 && unknownToken.error == "NO_AUTH_FOUND")
            let app = try await client.app("crm.deal.get", json: #"{"id":101}"#)
            #expect(app.status == 200 && app.resultObject.bitrixString("ID") == "101")
        }
    }

    @Test func anUnknownMethodIs404EvenBeforeAuthentication() async throws {
        try await BitrixTest.withSimulator { _, client in
            let reply = try await client.call("crm.deal.frobnicate", json: "{}")
            #expect(reply.status == 404)
            #expect(reply.error == "ERROR_METHOD_NOT_FOUND")
            #expect(reply.errorDescription == "Method not found!")
            let unauthenticated = try await client.call("crm.lead.explode", json: "{}", prefix: "/rest/1/nope")
            #expect(unauthenticated.status == 404)
            #expect(try await client.call("CRM.DEAL.GET.json", json: #"{"ID":101}"#).status == 200, "names are case-insensitive")
        }
    }

    @Test func flagsAndNumbersInJSONReadAsPHPStrings() async throws {
        try await BitrixTest.withSimulator { simulator, client in
            let reply = try await client.call(
                "crm.deal.add",
                json: """
                    {"fields":{"TITLE":"Числа","CATEGORY_ID":2,"OPPORTUNITY":1250.5,"UF_CRM_SESSIONS":8,"ASSIGNED_BY_ID":15}}
                    """)
            let id = try #require(reply.result as? Int)
            let deal = try #require(simulator.deal(id: id))
            #expect(deal.categoryID == 2)
            #expect(deal.opportunity == Decimal(string: "1250.5"))
            #expect(deal.userField(Default.sessionsField) == "8")
            #expect(deal.assignedByID == 15)
        }
    }
}
