import DealSyncConnectors
import DealSyncCore
import DealSyncKafka
import DealSyncTestSupport
import Foundation
import Testing

/// The decision feed's connector against librdkafka's mock cluster: each decided write becomes one
/// `DealChangeDecided` event (checked against the contract with `contracts/check.py`), keyed by its deal.
@Suite(.timeLimit(.minutes(2)))
struct DecisionFeedTests {
    static let topic = "dealsync.decisions"

    func feed(_ cluster: KafkaMockCluster, producing: Bool = true) throws -> DecisionFeedConnector {
        let yaml = """
            id: masterdeal
            kind: masterdeal
            base_url: http://127.0.0.1:9
            auth: {bearer_token: t}
            webhook: {secret: s}
            decisions: {kafka: {brokers: "\(cluster.bootstrapServers)"}}
            """
        let master = try #require(
            try ConfigurationLoader(environment: [:])
                .load(connectors: [.init(path: "connectors/masterdeal.yaml", text: yaml)], mappings: []).masterDeal)
        let producer =
            producing
            ? try KafkaProducer(properties: ["bootstrap.servers": cluster.bootstrapServers], logger: MasterDealFixture.logger) : nil
        return DecisionFeedConnector(master: master, feed: try #require(master.decisions), producer: producer)
    }

    static func decided(
        _ key: String, _ operation: RecordDecision.Operation, to target: String, deal: String?, record: String?, link: Int64,
        fields: [String: FieldValue]
    ) -> Delivery {
        Delivery(
            outboxIDs: [link], idempotencyKey: "decided:" + key, operation: operation, recordID: nil, masterDealID: deal,
            values: fields, lineageID: UUID(), traceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            decided: DecidedWrite(target: target, connector: "tour", linkID: link, recordID: record))
    }

    /// An event published on a whole second still carries its milliseconds (`.000Z`), as the contract's
    /// timestamp requires: the decision feed's and the change requests' alike (a full run found one without).
    @Test(arguments: [1_795_428_000.0, 1_795_428_000.5, 1_795_428_000.25])
    func eventsPublishedOnAnyMillisecondMeetTheContract(at seconds: Double) async throws {
        let occurredAt = Date(timeIntervalSince1970: seconds)
        let delivery = Self.decided("k1", .update, to: "masterdeal", deal: "md-1", record: "42", link: 7, fields: ["title": .text("T")])
        let bodies = [
            DealChangeDecided.body(
                for: delivery, decided: try #require(delivery.decided), master: "masterdeal", source: "dealsync", occurredAt: occurredAt),
            DealChangeRequested.body(
                for: Self.decided(
                    "k2", .update, to: "masterdeal", deal: "md-1", record: "42", link: 7, fields: ["opportunity_name": .text("T")]),
                dealID: "md-1", source: "dealsync", occurredAt: occurredAt),
        ]
        let expected =
            String(Timestamp.iso8601(seconds: 1_795_428_000).dropLast()) + String(format: ".%03dZ", Int((seconds - 1_795_428_000) * 1000))
        for body in bodies { #expect(JSONValue.parse(body)?["occurred_at"]?.string == expected) }
        let check = try await ContractCheck.events(bodies)
        #expect(check.status == 0, "\(check.output)")
    }

    @Test func eachDecidedWriteIsOneContractEventKeyedByItsDeal() async throws {
        let cluster = try KafkaMockCluster(brokers: 1, logger: MasterDealFixture.logger)
        defer { cluster.shutdown() }
        try cluster.createTopic(Self.topic, partitions: 3)
        let feed = try feed(cluster)
        #expect(feed.config.id == "masterdeal.decisions")
        let toCRM = Self.decided(
            "k1", .create, to: "tour", deal: "md-7", record: nil, link: 11,
            fields: [
                "title": .text("Тур в Сочи"), "amount": .money(Money(amount: 150_000, currency: "rub")), "stage": .text("qualified"),
                "sla_due": .time(1_764_900_000), "nights": .integer(7), "vip": .bool(true), "discount": .decimal(Decimal(string: "2.5")!),
                "owner": .null,
            ])
        let toMaster = Self.decided(
            "k2", .update, to: "masterdeal", deal: "md-7", record: "31000001", link: 11, fields: ["stage": .text("proposal")])
        let creating = Self.decided(
            "k3", .create, to: "masterdeal", deal: nil, record: "31000002", link: 12, fields: ["title": .text("Байкал")])
        let outcomes = await feed.deliver([toCRM, toMaster, creating])
        #expect(
            outcomes == [
                .delivered(recordID: "md-7", landedAt: nil), .delivered(recordID: "md-7", landedAt: nil),
                .delivered(recordID: "link:12", landedAt: nil),
            ])
        // A row that is not the feed's (no decided write) is refused, not published.
        let stray = MasterDealFixture.delivery(.update, recordID: "md-9", values: ["stage": .text("lead")])
        guard case .permanent? = await feed.deliver([stray]).first else { Issue.record("a stray row was published"); return }
        await feed.producer?.close()

        let messages = try await MasterDealFixture.consume(cluster, topic: Self.topic, until: 3)
        try #require(messages.count == 3)
        let deal = messages.filter { $0.key == Data("md-7".utf8) }
        try #require(deal.count == 2)
        #expect(deal[0].partition == deal[1].partition && deal[0].offset < deal[1].offset, "one deal's events in one partition, in order")
        #expect(deal.map { $0.headers["event_id"] } == ["decided:k1", "decided:k2"])
        #expect(deal[1].headers["traceparent"] == toMaster.traceParent)
        #expect(deal[1].headers["lineage_id"] == toMaster.lineageID.uuidString.lowercased())

        let first = try #require(JSONValue.parse(deal[0].value))
        #expect(first["type"] == .string("DealChangeDecided"))
        #expect(first["direction"] == .string("to_crm"))
        #expect(first["target"] == .string("tour"))
        #expect(first["link_id"]?.int64 == 11)
        #expect(first["record_id"] == .null)
        #expect(first["fields"]?["amount"] == .object(["amount": .string("150000.00"), "currency": .string("RUB")]))
        #expect(first["fields"]?["sla_due"]?.string?.hasPrefix("2025-12-05T02:00:00") == true, "\(String(describing: first["fields"]))")
        #expect(first["fields"]?["nights"]?.int64 == 7)
        #expect(first["fields"]?["discount"] == .string("2.5"))
        let second = try #require(JSONValue.parse(deal[1].value))
        #expect(second["direction"] == .string("to_masterdeal"))
        #expect(second["record_id"] == .string("31000001"))
        #expect(second["fields"] == .object(["stage": .string("proposal")]))
        let pending = try #require(messages.first { $0.key == Data("link:12".utf8) })
        #expect(JSONValue.parse(pending.value)?["master_deal_id"] == .null)

        let check = try await ContractCheck.events(messages.map(\.value))
        #expect(check.status == 0, "\(check.output)")
    }

    @Test func withoutAProducerTheFeedIsPausedWithItsReason() async throws {
        let cluster = try KafkaMockCluster(brokers: 1, logger: MasterDealFixture.logger)
        defer { cluster.shutdown() }
        let feed = try feed(cluster, producing: false)
        let outcome = await feed.deliver([
            Self.decided("k", .update, to: "tour", deal: "md-1", record: "1", link: 1, fields: ["stage": .text("won")])
        ])
        guard case .paused(_, _, let reason)? = outcome.first else { Issue.record("\(outcome)"); return }
        #expect(reason.contains("no Kafka producer"))
    }
}
