import DealSyncConnectors
import DealSyncCore
import DealSyncSimulators
import DealSyncTestSupport
import Foundation
import Testing

/// `decode(_:)`: an event, a polled deal and a fetched deal are the same observation of the same state.
struct MasterDealDecodeTests {
    /// The event the simulator emitted last, accepted through a valid signature.
    static func acceptLastEvent(_ simulator: MasterDealSimulator, _ connector: MasterDealConnector) throws -> InboxItem {
        let event = try #require(simulator.eventHistory.last?.event)
        let body = event.json.text
        let now = Date()
        let signature = MasterDealSimulator.signature(
            secret: MasterDealFixture.secret, body: body,
            timestamp: Int64(now.timeIntervalSince1970))
        return try connector.accept(WebhookRequest(headers: ["X-Signature": signature], body: Data(body.utf8), receivedAt: now))
    }

    /// The polled item of deal `id`.
    static func polled(_ connector: MasterDealConnector, id: String) async throws -> InboxItem {
        let result = try await connector.poll(from: nil)
        return try #require(result.items.first { $0.dedupeKey.hasPrefix("deal:\(id):") })
    }

    @Test func anEventAndAPolledDealDecodeToTheSameObservation() async throws {
        let clock = ManualClock()
        let simulator = MasterDealSimulator(configuration: MasterDealFixture.simulatorConfiguration(clock: clock))
        try await simulator.withRunning { baseURL in
            let connector = try MasterDealFixture.connector(baseURL: baseURL)
            let created = try simulator.createAsUser(MasterDealFixture.fullDeal)
            clock.advance(byMilliseconds: 2_500)
            let deal = try simulator.editAsUser(id: created.id, changes: ["stage": "qualified"])  // StageChanged, v2

            let fromEvent = try MasterDealFixture.observation(connector, try Self.acceptLastEvent(simulator, connector))
            let fromPoll = try MasterDealFixture.observation(connector, try await Self.polled(connector, id: deal.id))
            let fetched = try await connector.fetch([deal.id], lineage: UUID())
            let fromFetch = try MasterDealFixture.observation(connector, try #require(fetched.first))

            let expected = Observation(
                connector: "masterdeal", side: .master, recordID: deal.id, action: .upsert,
                fields: MasterDealFixture.fullDealFields(stage: "qualified"),
                stamp: SourceStamp(millis: deal.updatedAt, version: 2), account: "acc-1", byIntegration: false,
                isComplete: true)
            #expect(fromEvent == expected)
            #expect(fromPoll == expected)
            #expect(fromFetch == expected)
            // SourceStamp's == lets a missing version pass; the version must be there.
            #expect(fromEvent.stamp?.version == 2 && fromPoll.stamp?.version == 2)
            #expect(fromEvent.stamp?.millis == created.updatedAt + 2_500)
        }
    }

    @Test func emptyFieldsDecodeAsExplicitNulls() async throws {
        let simulator = MasterDealSimulator(configuration: MasterDealFixture.simulatorConfiguration())
        try await simulator.withRunning { baseURL in
            let connector = try MasterDealFixture.connector(baseURL: baseURL)
            let deal = try simulator.createAsUser(["account_id": "acc-2", "opportunity_name": "Bare", "stage": "lead"])
            let expected: [String: FieldValue] = [
                "opportunity_name": .text("Bare"), "stage": .text("lead"), "amount": .null, "owner_id": .null,
                "sla_due_at": .null,
            ]
            let fromEvent = try MasterDealFixture.observation(connector, try Self.acceptLastEvent(simulator, connector))
            let fromPoll = try MasterDealFixture.observation(connector, try await Self.polled(connector, id: deal.id))
            #expect(fromEvent.fields == expected)
            #expect(fromPoll.fields == expected)
            #expect(fromEvent.isComplete && fromPoll.isComplete, "a complete deal: an absent attribute is empty")
        }
    }

    /// `byIntegration` says "dealsync wrote this": only an event whose `source` is the connector's client name.
    @Test func onlyEventsCausedByOurOwnWritesAreByIntegration() async throws {
        let simulator = MasterDealSimulator(configuration: MasterDealFixture.simulatorConfiguration())
        try await simulator.withRunning { baseURL in
            let connector = try MasterDealFixture.connector(baseURL: baseURL)
            let other = try MasterDealFixture.connector(baseURL: baseURL, .init(token: MasterDealFixture.otherToken))
            let deal = try simulator.createAsUser(MasterDealFixture.fullDeal)
            func lastEvent() throws -> (source: String, byIntegration: Bool) {
                let source = try #require(simulator.eventHistory.last?.event.source)
                return (source, try MasterDealFixture.observation(connector, try Self.acceptLastEvent(simulator, connector)).byIntegration)
            }
            #expect(try lastEvent() == ("masterdeal-ui", false))

            let ours = await connector.deliver([
                MasterDealFixture.delivery(.update, recordID: deal.id, values: ["stage": .text("qualified")])
            ])
            #expect(Self.isDelivered(ours))
            #expect(try lastEvent() == (MasterDealFixture.clientName, true))
            // The same state read by polling carries no source: not known to be ours.
            #expect(try MasterDealFixture.observation(connector, try await Self.polled(connector, id: deal.id)).byIntegration == false)

            let theirs = await other.deliver([
                MasterDealFixture.delivery(.update, recordID: deal.id, values: ["owner_id": .text("u-ivan")])
            ])
            #expect(Self.isDelivered(theirs))
            #expect(try lastEvent() == ("billing", false))
        }
    }

    @Test func bodiesWithoutADealAreDecodeErrors() throws {
        let connector = try MasterDealFixture.offlineConnector()
        let cases: [(InboxItem.Source, String)] = [
            (.webhook, "not json"), (.webhook, ""), (.webhook, #"{"event_id":"e-1","type":"DealCreated"}"#),
            (.webhook, #"{"event_id":"e-1","type":"DealCreated","deal":{"opportunity_name":"no id"}}"#),
            (.webhook, #"{"id":"md-1","opportunity_name":"a deal, not an event"}"#),
            (.poll, "not json"), (.poll, "[]"), (.poll, #"{"opportunity_name":"no id","stage":"lead"}"#),
            (.fetch, "<html>bad gateway</html>"), (.fetch, #"{"items":[]}"#),
        ]
        for (source, body) in cases {
            let item = InboxItem(connector: "masterdeal", dedupeKey: "k", source: source, body: Data(body.utf8))
            #expect(throws: DecodeError.self, "\(source): \(body)") {
                try connector.decode(InboxRow(id: 1, item: item))
            }
        }
    }

    static func isDelivered(_ outcomes: [DeliveryOutcome]) -> Bool {
        if case .delivered? = outcomes.first { return true }
        return false
    }
}
