import AsyncHTTPClient
import DealSyncConnectors
import DealSyncCore
import DealSyncSimulators
import DealSyncTestSupport
import Foundation
import Synchronization
import Testing

/// What a portal answers when its subscription has ended, when the application was installed again, and how it
/// writes empty dates: the connector pauses for people rather than dead-letter writes, holds its calls back rather
/// than hammer a portal that refuses it, and reads both date forms.
struct Bitrix24PortalStateTests {
    typealias F = BitrixConnectorFixture

    static func update(_ id: Int, _ title: String) -> Delivery {
        Delivery(
            outboxIDs: [Int64(id)], idempotencyKey: "k\(id)\(title)", operation: .update, recordID: String(id), masterDealID: nil,
            values: ["TITLE": .text(title)], lineageID: UUID())
    }

    /// The connector's pacing on a manual clock: it reads the clock, and a wait moves it at once.
    static func pacing(_ clock: ManualClock) -> PacingClock {
        PacingClock(now: { clock.seconds }, sleep: { clock.advance(by: $0) })
    }

    @Test func anEndedSubscriptionPausesTheApplicationAndHoldsItsCallsBack() async throws {
        let simulator = F.simulator { $0.limits = .unlimited }
        let clock = ManualClock()
        try await simulator.withRunning { url in
            let id = simulator.createAsSalesperson(userID: 12, fields: ["TITLE": "D", "CATEGORY_ID": "2"]).id
            let application = try F.application(url: url, pacing: Self.pacing(clock))
            let webhook = try F.connector(url: url)
            guard case .delivered = await application.deliver([Self.update(id, "before")])[0] else {
                Issue.record("a write goes through while the subscription runs")
                return
            }
            simulator.subscriptionEnded = true
            guard case .paused(.paymentRequired, 402, let reason) = await application.deliver([Self.update(id, "app")])[0] else {
                Issue.record("PAYMENT_REQUIRED pauses the application's connector; its write is not dead-lettered")
                return
            }
            #expect(reason.contains("PAYMENT_REQUIRED: Subscription has been ended") && reason.contains("Bitrix24.Market"), "\(reason)")

            // Held back: no poll, fetch or write reaches the portal until the hold (breaker_cooldown, 30 s) is over.
            let sent = simulator.stats.requestsTotal
            guard case .paused(.paymentRequired, nil, reason) = await application.deliver([Self.update(id, "again")])[0] else {
                Issue.record("a write during the hold is answered with the same refusal, unsent")
                return
            }
            await #expect(throws: ConnectorPaused.self) { try await application.poll(from: nil) }
            await #expect(throws: ConnectorPaused.self) { try await application.fetch([String(id)], lineage: UUID()) }
            #expect(simulator.stats.requestsTotal == sent, "the portal saw nothing during the hold")

            // The portal's own inbound webhook is not the application: it goes on.
            guard case .delivered = await webhook.deliver([Self.update(id, "hook")])[0] else {
                Issue.record("an inbound webhook does not depend on the application's subscription")
                return
            }

            // After the hold one call goes out as a probe; still refused, it holds again.
            let beforeProbe = simulator.stats.requestsTotal
            clock.advance(bySeconds: 31)
            await #expect(throws: ConnectorPaused.self) { try await application.poll(from: nil) }
            #expect(simulator.stats.requestsTotal == beforeProbe + 1, "one probe")
            await #expect(throws: ConnectorPaused.self) { try await application.poll(from: nil) }
            #expect(simulator.stats.requestsTotal == beforeProbe + 1)

            // Renewed: the next probe goes through and the connector works again at once.
            simulator.subscriptionEnded = false
            clock.advance(bySeconds: 31)
            guard case .delivered = await application.deliver([Self.update(id, "renewed")])[0] else {
                Issue.record("a renewed subscription takes writes again")
                return
            }
            _ = try await application.poll(from: nil)
            #expect(simulator.deal(id: id)?.title == "renewed")
        }
    }

    @Test func aTokenOfAFormerInstallationPausesTheConnectorForAuthorisation() async throws {
        let simulator = F.simulator { $0.limits = .unlimited }
        try await simulator.withRunning { url in
            let id = simulator.createAsSalesperson(userID: 12, fields: ["TITLE": "D", "CATEGORY_ID": "2"]).id
            let connector = try F.application(url: url)
            guard case .delivered = await connector.deliver([Self.update(id, "before")])[0] else {
                Issue.record("the application writes with its token")
                return
            }
            simulator.reinstallApplication(clientID: "local.new.client", clientSecret: "new-secret")
            guard case .paused(.auth, 401, let reason) = await connector.deliver([Self.update(id, "after")])[0] else {
                Issue.record("wrong_client is an authorisation problem to fix in the configuration, not a bad write")
                return
            }
            #expect(reason.contains("wrong_client") && reason.contains("auth.oauth"), "\(reason)")
            #expect(!reason.contains("new-secret") && !reason.contains(Bitrix24Simulator.OAuth().clientSecret))
            let refusal = await #expect(throws: ConnectorPaused.self) { try await connector.poll(from: nil) }
            #expect(refusal?.errorClass == .auth && refusal?.reason == reason)
            #expect(simulator.deal(id: id)?.title == "before")
        }
    }

    @Test func aPortalWithoutACommercialPlanRefusesEveryCallerAndPollsPause() async throws {
        let simulator = F.simulator { $0.limits = .unlimited }
        try await simulator.withRunning { url in
            let connector = try F.connector(url: url)
            _ = try await connector.poll(from: nil)
            simulator.commercialPlanEnded = true
            let refusal = await #expect(throws: ConnectorPaused.self) { try await connector.poll(from: nil) }
            #expect(refusal?.errorClass == .blocked && refusal?.status == 403)
            #expect(refusal?.reason.contains("REST API is available only on commercial plans") == true, "\(String(describing: refusal))")
            #expect(refusal?.reason.contains("x7k2m9q4w1e8r5t3") == false, "the webhook code is a secret")
        }
    }

    /// `crm.deal.get` writes an empty date as `""`, `crm.deal.list` as null: both read as no date.
    @Test func emptyDatesReadTheSameFromAGetAndAList() async throws {
        let simulator = F.simulator { $0.limits = .unlimited }
        try await simulator.withRunning { url in
            let connector = try F.connector(url: url)
            let id = simulator.createAsSalesperson(userID: 12, fields: ["TITLE": "Без дат", "CATEGORY_ID": "2"]).id
            simulator.editAsSalesperson(dealID: id, userID: 12, fields: ["BEGINDATE": "", "CLOSEDATE": ""])
            let text = try #require(simulator.dealJSON(id: id))
            let got = try #require(JSONValue.parse(Data(text.utf8)))
            #expect(got["CLOSEDATE"] == .string("") && got["BEGINDATE"] == .string(""), "the get form of an empty date")
            let fetched = try #require(try await connector.fetch([String(id)], lineage: UUID()).first)
            var cursor: String?
            let polled = try #require(try await F.pollAll(connector, cursor: &cursor).first { $0.dedupeKey.contains("deal:\(id):") })
            #expect(JSONValue.parse(polled.body)?["CLOSEDATE"] == .null, "the list form")
            let fromGet = try #require(try connector.decode(InboxRow(id: 1, item: fetched)).observations?.first)
            let fromList = try #require(try connector.decode(InboxRow(id: 2, item: polled)).observations?.first)
            #expect(fromGet.fields["CLOSEDATE"] == .null && fromGet.fields["BEGINDATE"] == .null)
            #expect(fromGet.fields == fromList.fields, "the same deal reads the same whichever way it was read")
            #expect(fromGet.stamp == fromList.stamp)
        }
    }
}
