import AsyncHTTPClient
import DealSyncConnectors
import DealSyncCore
import DealSyncKafka
import DealSyncTestSupport
import Foundation
import Logging
import Testing

/// The MasterDeal connector on the bus: what it publishes for writes (checked against the contract with
/// `contracts/check.py`) and what it makes of messages from the events topic.
@Suite(.timeLimit(.minutes(2)))
struct MasterDealKafkaTests {
    static let topic = "dealsync.crm-changes"

    func connector(_ cluster: KafkaMockCluster) throws -> MasterDealConnector {
        let yaml = """
            id: masterdeal
            kind: masterdeal
            base_url: http://127.0.0.1:9
            auth: {bearer_token: t}
            events: {kafka: {brokers: "\(cluster.bootstrapServers)", topic: masterdeal.deal-events}}
            writes: {kafka: {topic: \(Self.topic)}}
            """
        let config = try #require(
            try ConfigurationLoader(environment: [:])
                .load(connectors: [.init(path: "connectors/masterdeal.yaml", text: yaml)], mappings: []).masterDeal)
        let producer = try KafkaProducer(properties: ["bootstrap.servers": cluster.bootstrapServers], logger: MasterDealFixture.logger)
        return MasterDealConnector(config: config, client: HTTPTransport.sharedClient, logger: MasterDealFixture.logger, producer: producer)
    }

    @Test func writesArePublishedAsContractEventsKeyedByTheDeal() async throws {
        let cluster = try KafkaMockCluster(brokers: 1, logger: MasterDealFixture.logger)
        defer { cluster.shutdown() }
        try cluster.createTopic(Self.topic, partitions: 2)
        let master = try connector(cluster)
        let create = MasterDealFixture.delivery(
            .create, key: "tour:lead:17:create",
            values: MasterDealFixture.fullDealFields().merging(
                ["account_id": .text("acc-1")]) { $1 })
        let update = MasterDealFixture.delivery(.update, recordID: "md-42", values: ["stage": .text("proposal")], knownVersion: 3)
        let outcomes = await master.deliver([create, update])
        let proposed = DealChangeRequested.proposedDealID(for: "tour:lead:17:create")
        #expect(outcomes == [.delivered(recordID: proposed, landedAt: nil), .delivered(recordID: "md-42", landedAt: nil)])
        // Sent again (a retry after a lost acknowledgement), a create proposes the same deal.
        #expect(await master.deliver([create]) == [.delivered(recordID: proposed, landedAt: nil)])
        await master.producer?.close()

        let messages = try await MasterDealFixture.consume(cluster, topic: Self.topic, until: 3)
        #expect(messages.count == 3)
        let byKey = Dictionary(grouping: messages) { String(decoding: $0.key ?? Data(), as: UTF8.self) }
        #expect(Set(byKey.keys) == [proposed, "md-42"])
        let updateMessage = try #require(byKey["md-42"]?.first)
        #expect(updateMessage.headers["event_id"] == update.idempotencyKey)
        #expect(updateMessage.headers["lineage_id"] == update.lineageID.uuidString.lowercased())
        let body = try #require(JSONValue.parse(updateMessage.value))
        #expect(body["base_version"]?.int64 == 3)
        #expect(body["changes"] == .object(["stage": .string("proposal")]))

        let check = try await ContractCheck.events(messages.map(\.value))
        #expect(check.status == 0, "\(check.output)")
    }

    @Test func anEventFromTheTopicIsKeyedByItsDealVersionAndAnythingElseIsRefusedWithItsReason() throws {
        let cluster = try KafkaMockCluster(brokers: 1, logger: MasterDealFixture.logger)
        defer { cluster.shutdown() }
        let master = try connector(cluster)
        let event = #"""
            {"event_id":"0b9d7c1e-3f5a-4e2b-8c6d-1a2b3c4d5e6f","type":"StageChanged","occurred_at":"2026-12-05T07:00:00.000Z",
             "source":"masterdeal-ui","version":4,"previous_stage":"lead",
             "deal":{"id":"md-7","account_id":"acc-1","opportunity_name":"Sochi","stage":"qualified","amount":"100.00","currency":"RUB",
                     "owner_id":null,"sla_due_at":null,"created_at":"2026-12-01T10:00:00.000Z","updated_at":"2026-12-05T07:00:00.000Z",
                     "version":4,"attributes":{}}}
            """#
        let accepted = master.accept(
            KafkaMessage(
                topic: "masterdeal.deal-events", partition: 1, offset: 9, key: Data("md-7".utf8),
                value: Data(event.utf8)))
        #expect(accepted.refusal == nil)
        #expect(accepted.item.dedupeKey == "deal:md-7:v4")
        #expect(accepted.item.source == .kafka)
        let decoded = try master.decode(InboxRow(id: 1, item: accepted.item))
        guard case .observations(let observations) = decoded else { Issue.record("\(decoded)"); return }
        #expect(observations.count == 1)
        #expect(observations.first?.fields["stage"] == .text("qualified"))

        let cases: [(String, String)] = [
            ("[1,2", "not JSON"),
            (#"{"event_id":"x","type":"StageChanged"}"#, "not a MasterDeal event: event_id: not a lowercase UUID"),
            (
                event.replacingOccurrences(of: #""version":4,"previous"#, with: #""version":5,"previous"#),
                "not a MasterDeal event: version: differs from deal.version"
            ),
            (event.replacingOccurrences(of: "\"deal\":", with: "\"dealz\":"), "not a MasterDeal event: deal: missing or not an object"),
        ]
        for (index, (body, reason)) in cases.enumerated() {
            let refused = master.accept(
                KafkaMessage(topic: "masterdeal.deal-events", partition: 0, offset: Int64(index), key: nil, value: Data(body.utf8)))
            #expect(refused.refusal == reason)
            #expect(refused.item.dedupeKey == "kafka:masterdeal.deal-events:0:\(index)")
        }
        let huge = Data(repeating: UInt8(ascii: " "), count: MasterDealConnector.maximumEventSize + 1)
        #expect(
            master.accept(KafkaMessage(topic: "t", partition: 0, offset: 0, key: nil, value: huge)).refusal == "larger than 1048576 bytes")
    }
}
