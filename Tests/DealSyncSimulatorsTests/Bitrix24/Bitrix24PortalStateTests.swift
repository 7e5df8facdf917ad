import DealSyncSimulators
import Foundation
import NIOHTTP1
import Testing

/// What a portal answers when the application's subscription or the portal's plan has ended, after the application
/// was installed again, and how it writes empty dates.
struct Bitrix24PortalStateTests {
    @Test func anEndedSubscriptionRefusesTheApplicationOnly() async throws {
        try await BitrixTest.withSimulator { _, client in
            #expect(try await client.send(.PUT, "/_sim/subscription", json: #"{"ended":true}"#).status == 204)
            let refused = try await client.app("crm.deal.get", json: #"{"id":101}"#)
            #expect(refused.status == 402 && refused.error == "PAYMENT_REQUIRED", "\(refused.body)")
            #expect(refused.object["error_description"] as? String == "Subscription has been ended")
            #expect(try await client.call("crm.deal.get", json: #"{"id":101}"#).status == 200, "the portal's inbound webhook goes on")
            #expect(try await client.send(.PUT, "/_sim/subscription", json: #"{"ended":false}"#).status == 204)
            #expect(try await client.app("crm.deal.get", json: #"{"id":101}"#).status == 200)
            #expect(try await client.send(.PUT, "/_sim/subscription", json: #"{"ended":"yes"}"#).status == 400)
        }
    }

    @Test func aPortalWithoutACommercialPlanRefusesEveryCaller() async throws {
        try await BitrixTest.withSimulator { _, client in
            #expect(try await client.send(.PUT, "/_sim/plan", json: #"{"commercial":false}"#).status == 204)
            for reply in [
                try await client.app("crm.deal.get", json: #"{"id":101}"#), try await client.call("crm.deal.get", json: #"{"id":101}"#),
            ] {
                #expect(reply.status == 403 && reply.error == "ACCESS_DENIED", "\(reply.body)")
                #expect(reply.object["error_description"] as? String == "REST API is available only on commercial plans")
            }
            #expect(try await client.send(.PUT, "/_sim/plan", json: #"{"commercial":true}"#).status == 204)
            #expect(try await client.call("crm.deal.get", json: #"{"id":101}"#).status == 200)
        }
    }

    @Test func aTokenOfTheFormerInstallationIsWrongClient() async throws {
        try await BitrixTest.withSimulator { simulator, client in
            #expect(try await client.app("crm.deal.get", json: #"{"id":101}"#).status == 200)
            let reinstall = try await client.send(.POST, "/_sim/oauth/reinstall", json: #"{"client_id":"local.new","client_secret":"s2"}"#)
            #expect(reinstall.status == 204)
            let refused = try await client.app("crm.deal.get", json: #"{"id":101}"#)
            #expect(refused.status == 401 && refused.error == "wrong_client", "\(refused.body)")
            let oauth = simulator.configuration.oauth
            let old = try await client.get(
                "/oauth/token/?grant_type=refresh_token&client_id=\(oauth.clientID)&client_secret=\(oauth.clientSecret)&refresh_token=\(oauth.refreshToken)"
            )
            #expect(old.status == 401 && old.error == "invalid_client", "the former client cannot refresh: \(old.body)")
            #expect(try await client.send(.POST, "/_sim/oauth/reinstall", json: #"{"client_id":""}"#).status == 400)
        }
    }

    @Test func anEmptyDateIsEmptyTextFromGetAndNullFromList() async throws {
        try await BitrixTest.withSimulator { simulator, client in
            let id = simulator.createAsSalesperson(userID: 12, fields: ["TITLE": "Без дат", "CATEGORY_ID": "2"]).id
            _ = simulator.editAsSalesperson(dealID: id, userID: 12, fields: ["BEGINDATE": "", "CLOSEDATE": ""])
            let got = try await client.call("crm.deal.get", json: #"{"id":\#(id)}"#).resultObject
            #expect(got["CLOSEDATE"] as? String == "" && got["BEGINDATE"] as? String == "", "\(got)")
            let listed = try await client.call("crm.deal.list", json: #"{"filter":{"ID":\#(id)},"select":["CLOSEDATE","BEGINDATE"]}"#)
                .resultList
            #expect(listed.first?["CLOSEDATE"] is NSNull && listed.first?["BEGINDATE"] is NSNull, "\(listed)")
        }
    }
}
