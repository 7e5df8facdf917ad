import DealSyncCore
import DealSyncSimulators
import DealSyncTestSupport
import Foundation
import NIOHTTP1
import Testing

/// Outbound events: id-only form bodies, the application token, echoes of API writes, MOVETOCATEGORY alone on a
/// funnel change, no retries, pausing, deprioritised slow handlers.
struct Bitrix24EventTests {
    typealias Default = BitrixTest.Default
    typealias EventHandler = Bitrix24Simulator.EventHandler

    static func withHandlers<T: Sendable>(
        kind: EventHandler.Kind? = .outgoingWebhook,
        delivery: Bitrix24Simulator.EventDelivery = .init(timeout: .seconds(1)),
        _ body: @Sendable (Bitrix24Simulator, BitrixClient, HookReceiver, String) async throws -> T
    ) async throws -> T {
        let receiver = HookReceiver(prefix: "events")
        return try await receiver.withRunning { receiverBase in
            let url = receiverBase + "/events/main"
            var configuration = BitrixTest.configuration()
            if let kind { configuration.eventHandlers = EventHandler.dealEvents(to: url, kind: kind) }
            configuration.eventDelivery = delivery
            let ready = configuration
            return try await BitrixTest.withSimulator(ready) { simulator, client in try await body(simulator, client, receiver, url) }
        }
    }

    @Test func addUpdateAndDeleteSendOnlyTheIDWithThePortalsIdentity() async throws {
        try await Self.withHandlers { simulator, client, receiver, _ in
            let created = try await client.send(.POST, "/_sim/deals", json: #"{"user_id":12,"fields":{"TITLE":"С сайта","CATEGORY_ID":2}}"#)
            #expect(created.status == 201)
            _ = try await client.call("crm.deal.update", json: #"{"id":106,"fields":{"OPPORTUNITY":"5000"}}"#)
            _ = try await client.call("crm.deal.delete", json: #"{"id":106}"#)
            try await eventually("three events", timeout: .seconds(3), every: .milliseconds(10)) { receiver.received.count == 3 }
            // Deliveries run concurrently: the order of arrival is not guaranteed (nor is it at Bitrix24).
            #expect(Set(receiver.received.compactMap(\.event)) == ["ONCRMDEALADD", "ONCRMDEALUPDATE", "ONCRMDEALDELETE"])
            let subscriptions = simulator.eventSubscriptions
            for event in receiver.received {
                #expect(event.contentType == "application/x-www-form-urlencoded")
                let form = event.form
                #expect(form.keys == ["event", "data", "ts", "auth"], "an outgoing webhook's event has no event_handler_id")
                #expect(form["data"]?["FIELDS"]?.map?.keys == ["ID"], "only the id")
                #expect(event.dealID == "106")
                #expect(event.auth("application_token") == simulator.configuration.applicationToken)
                #expect(event.auth("member_id") == simulator.configuration.memberID)
                #expect(event.auth("domain") == "fitcoach.bitrix24.ru")
                #expect(event.auth("client_endpoint") == "https://fitcoach.bitrix24.ru/rest/")
                #expect(event.auth("server_endpoint") == "https://oauth.bitrix.info/rest/")
                #expect(
                    form["auth"]?.map?.keys == ["domain", "client_endpoint", "server_endpoint", "member_id", "application_token"],
                    "an outgoing webhook gets the portal's identity and no token")
                #expect(subscriptions.contains { $0.event == event.event && $0.kind == .outgoingWebhook })
                let ts = Int(form["ts"]?.string ?? "") ?? 0
                #expect(abs(ts - simulator.now) < 5)
            }
            try await eventually("three successes recorded", timeout: .seconds(3), every: .milliseconds(10)) {
                simulator.stats.eventsSucceeded == 3
            }
        }
    }

    @Test func theIntegrationsOwnWritesAndNoOpUpdatesComeBackAsEvents() async throws {
        try await Self.withHandlers { simulator, client, receiver, _ in
            _ = try await client.call("crm.deal.add", json: #"{"fields":{"TITLE":"Своя запись"}}"#)
            _ = try await client.call("crm.deal.update", json: #"{"id":101,"fields":{}}"#)
            _ = try await client.call("batch", json: #"{"cmd":{"a":"crm.deal.update?id=102&fields[NOPE]=1"}}"#)
            try await eventually("three echoes", timeout: .seconds(3), every: .milliseconds(10)) { receiver.received.count == 3 }
            #expect(
                Set(receiver.received.map { "\($0.event ?? "")/\($0.dealID ?? "")" })
                    == ["ONCRMDEALADD/106", "ONCRMDEALUPDATE/101", "ONCRMDEALUPDATE/102"])
            #expect(simulator.deal(id: 102)?.modifyByID == Default.integrationUser, "recognise your own writes by MODIFY_BY_ID")
        }
    }

    @Test func aFunnelChangeFiresOnlyMoveToCategory() async throws {
        try await Self.withHandlers { simulator, client, receiver, _ in
            let moved = try await client.send(
                .POST, "/_sim/deals/101/move", json: #"{"category_id":0,"stage_id":"PREPARATION","user_id":12}"#)
            #expect(moved.status == 200)
            try await eventually("the move event", timeout: .seconds(3), every: .milliseconds(10)) { !receiver.received.isEmpty }
            // Every event the move caused has been sent (nothing pending): it caused only this one.
            try await eventually("every event of the move sent", timeout: .seconds(3), every: .milliseconds(10)) {
                simulator.pendingEvents == 0
            }
            #expect(simulator.eventHistory.count == 1)
            #expect(receiver.received.map(\.event) == ["ONCRMDEALMOVETOCATEGORY"])
            let form = receiver.received[0].form
            #expect(form["data"]?["FIELDS"]?["CATEGORY_ID"]?.string == "0")
            #expect(form["data"]?["FIELDS"]?["STAGE_ID"]?.string == "PREPARATION")
            #expect(simulator.deal(id: 101)?.categoryID == 0 && simulator.deal(id: 101)?.modifyByID == 12)
            // Within one funnel a move is a stage change.
            _ = try await client.send(.POST, "/_sim/deals/101/move", json: #"{"category_id":0,"stage_id":"EXECUTING"}"#)
            try await eventually("the update", timeout: .seconds(3), every: .milliseconds(10)) { receiver.received.count == 2 }
            #expect(receiver.received[1].event == "ONCRMDEALUPDATE")
            #expect(simulator.deal(id: 101)?.stageID == "EXECUTING")
        }
    }

    @Test func aFailedDeliveryIsNeverRetried() async throws {
        // A timeout of 1 s that a prompt 500 meets even on a busy machine, and a 5 s answer that surely misses it
        // (the receiver lets it go when the test ends).
        try await Self.withHandlers(delivery: .init(timeout: .seconds(1))) { simulator, _, receiver, _ in
            receiver.respond(status: 500)
            simulator.editAsSalesperson(dealID: 101, userID: 12, fields: ["COMMENTS": "a"])
            try await eventually("the attempt recorded", timeout: .seconds(3), every: .milliseconds(10)) {
                simulator.eventHistory.count == 1
            }
            receiver.respond(status: 200, delay: .seconds(5))
            simulator.editAsSalesperson(dealID: 102, userID: 12, fields: ["COMMENTS": "b"])
            try await eventually("the timeout recorded", timeout: .seconds(5), every: .milliseconds(10)) {
                simulator.eventHistory.count == 2
            }
            // Nothing is pending: no retry is waiting to be sent.
            try await eventually("nothing pending", timeout: .seconds(3), every: .milliseconds(10)) { simulator.pendingEvents == 0 }
            #expect(receiver.received.count == 2, "one attempt each")
            let history = simulator.eventHistory
            #expect(history[0].status == 500 && !history[0].succeeded)
            #expect(history[1].status == nil && !history[1].succeeded, "a timeout has no status")
            #expect(simulator.stats.eventsFailed == 2 && simulator.stats.eventsSent == 2)
            #expect(simulator.pendingEvents == 0)
        }
    }

    @Test func eventsWhilePausedAreLost() async throws {
        try await Self.withHandlers { simulator, client, receiver, _ in
            #expect(try await client.send(.POST, "/_sim/events/pause").status == 204)
            simulator.editAsSalesperson(dealID: 101, userID: 12, fields: ["COMMENTS": "lost"])
            #expect(try await client.send(.POST, "/_sim/events/resume").status == 204)
            simulator.editAsSalesperson(dealID: 102, userID: 12, fields: ["COMMENTS": "kept"])
            try await eventually("the event after resuming", timeout: .seconds(3), every: .milliseconds(10)) { !receiver.received.isEmpty }
            try await eventually("the attempt recorded", timeout: .seconds(3), every: .milliseconds(10)) {
                simulator.eventHistory.count == 1
            }
            try await eventually("nothing pending", timeout: .seconds(3), every: .milliseconds(10)) { simulator.pendingEvents == 0 }
            #expect(receiver.received.map(\.dealID) == ["102"])
            #expect(simulator.stats.eventsLost == 1)
            let attempts = try await client.get("/_sim/events")
            #expect((attempts.json as? [[String: Any]])?.count == 1)
        }
    }

    @Test func applicationHandlersGetTokensUnlessAutomationActed() async throws {
        try await Self.withHandlers(kind: nil) { simulator, client, receiver, url in
            let bound = try await client.app("event.bind", json: #"{"event":"onCrmDealUpdate","handler":"\#(url)"}"#)
            #expect(bound.status == 200 && bound.result as? Bool == true)
            let again = try await client.app("event.bind", json: #"{"event":"ONCRMDEALUPDATE","handler":"\#(url)"}"#)
            #expect(again.status == 400 && again.error == "ERROR_CORE" && again.errorDescription == "Handler already binded")
            let viaWebhook = try await client.call("event.bind", json: #"{"event":"ONCRMDEALADD","handler":"\#(url)"}"#)
            #expect(viaWebhook.status == 403 && viaWebhook.error == "WRONG_AUTH_TYPE")
            let handlers = try await client.app("event.get").resultList
            #expect(handlers.count == 1 && handlers[0].bitrixString("event") == "ONCRMDEALUPDATE")

            _ = try await client.app("crm.deal.update", json: #"{"id":101,"fields":{"COMMENTS":"app"}}"#)
            try await eventually("the app event", timeout: .seconds(3), every: .milliseconds(10)) { receiver.received.count == 1 }
            let event = receiver.received[0]
            let handlerID = try #require(simulator.eventSubscriptions.first { $0.event == "ONCRMDEALUPDATE" }?.id)
            #expect(event.form["event_handler_id"]?.string == String(handlerID), "an application's handler is named")
            #expect(
                event.form["auth"]?.map?.keys == [
                    "access_token", "expires", "expires_in", "scope", "domain", "server_endpoint", "status",
                    "client_endpoint", "member_id", "user_id", "application_token",
                ],
                "a token, and never a refresh token")
            let token = try #require(event.auth("access_token"))
            #expect(event.auth("user_id") == "1" && event.auth("application_token") == simulator.configuration.applicationToken)
            #expect(Int(event.auth("expires") ?? "") ?? 0 > simulator.now)
            let withToken = try await client.app("crm.deal.get", json: #"{"id":101}"#, token: token)
            #expect(withToken.status == 200, "the event's token works")

            _ = try await client.send(.PATCH, "/_sim/deals/101", json: #"{"user_id":15,"automation":true,"fields":{"COMMENTS":"robot"}}"#)
            try await eventually("the automation event", timeout: .seconds(3), every: .milliseconds(10)) { receiver.received.count == 2 }
            #expect(receiver.received[1].auth("access_token") == nil && receiver.received[1].auth("application_token") != nil)
            #expect(receiver.received[1].form["event_handler_id"]?.string == String(handlerID))

            let unbound = try await client.app("event.unbind", json: #"{"event":"ONCRMDEALUPDATE","handler":"\#(url)"}"#)
            #expect(unbound.resultObject.bitrixInt("count") == 1)
        }
    }

    /// Whether an event was deprioritised is read from the simulator's record; the wall clock only bounds the extra
    /// delay from below (never shorter) and, generously, from above (a prompt event does not wait for it).
    @Test func aSlowHandlerIsDeprioritised() async throws {
        let delivery = Bitrix24Simulator.EventDelivery(
            timeout: .seconds(2), slowResponseThreshold: .milliseconds(100),
            deprioritisedDelay: .milliseconds(2000))
        try await Self.withHandlers(delivery: delivery) { simulator, _, receiver, url in
            receiver.respond(status: 200, delay: .milliseconds(250))
            simulator.editAsSalesperson(dealID: 101, userID: 12, fields: ["COMMENTS": "slow"])
            try await eventually("the slow answer recorded", timeout: .seconds(3), every: .milliseconds(10)) {
                simulator.eventHistory.count == 1
            }
            receiver.respond(status: 200)
            let changed = ContinuousClock.now
            simulator.editAsSalesperson(dealID: 102, userID: 12, fields: ["COMMENTS": "later"])
            try await eventually("the deprioritised event", timeout: .seconds(3), every: .milliseconds(10)) { receiver.received.count == 2 }
            #expect(receiver.received[1].at - changed >= .milliseconds(2000))
            try await eventually("the second attempt recorded", timeout: .seconds(3), every: .milliseconds(10)) {
                simulator.eventHistory.count == 2
            }
            #expect(simulator.eventHistory.map(\.deprioritised) == [false, true])
            simulator.setHandlerSlow(url, false)
            let fast = ContinuousClock.now
            simulator.editAsSalesperson(dealID: 103, userID: 12, fields: ["COMMENTS": "fast again"])
            try await eventually("the prompt event", timeout: .seconds(3), every: .milliseconds(10)) { receiver.received.count == 3 }
            try await eventually("the third attempt recorded", timeout: .seconds(3), every: .milliseconds(10)) {
                simulator.eventHistory.count == 3
            }
            #expect(simulator.eventHistory.map(\.deprioritised) == [false, true, false])
            #expect(receiver.received[2].at - fast < .milliseconds(2000), "no extra delay once the handler is fast again")
        }
    }
}
