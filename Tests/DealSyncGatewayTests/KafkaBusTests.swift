import AsyncHTTPClient
import DealSyncCore
import DealSyncGateway
import DealSyncKafka
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import Logging
import PostgresNIO
import Testing

/// MasterDeal on a Kafka bus (librdkafka's mock cluster on loopback): its events reach dealsync only through the
/// events topic, and dealsync's writes to MasterDeal go out as `DealChangeRequested` events on the changes topic,
/// which the simulator applies.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct KafkaBusTests {
    static let tourDeal: DealSyncSimulators.MasterDealSimulator.JSONValue = .object([
        "account_id": .string("acc-tour"), "opportunity_name": .string("Алтай, 5 ночей"), "stage": .string("lead"),
        "amount": .string("90000.00"), "currency": .string("RUB"), "owner_id": .string("u-olga"),
        "attributes": .object(["tour_type": .string("ski")]),
    ])

    /// MasterDeal on the bus, nothing polled: what reaches dealsync from MasterDeal came through the topic.
    static var options: SyncSystem.Options {
        var options = SyncSystem.Options()
        options.kafka = true
        options.polling = false
        return options
    }

    func inbox(_ system: SyncSystem) async throws -> [(source: String, status: String, key: String, error: String)] {
        var rows: [(String, String, String, String)] = []
        let query = "SELECT source, status, dedupe_key, coalesce(error, '') FROM inbox WHERE connector = 'masterdeal' ORDER BY id"
        for try await row in try await system.database.client.query(.init(unsafeSQL: query)).decode((String, String, String, String).self) {
            rows.append(row)
        }
        return rows
    }

    func outboxRows(_ system: SyncSystem, target: String) async throws -> Int {
        let rows = try await system.database.client.query("SELECT count(*)::int8 FROM outbox WHERE target = \(target)")
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    @Test func aDealReachesAmoCRMFromTheEventsTopicAndAnAmoEditReturnsAsAChangeEvent() async throws {
        let options = Self.options
        try await SyncSystem.run(options) { system in
            let bus = try #require(system.bus)
            let deal = try system.masterDeal.createAsUser(Self.tourDeal)
            try await system.eventually("the lead exists in amoCRM", timeout: .seconds(60)) {
                system.amo.allLeads(includingDeleted: false).contains { $0.name == "Алтай, 5 ночей" }
            }
            #expect(system.masterDeal.deliveryAttempts.isEmpty, "no webhook was sent: the event came over the bus")
            let stored = try await inbox(system)
            #expect(stored.contains { $0.source == "kafka" && $0.key == "deal:\(deal.id):v1" && $0.status == "processed" })

            // A salesperson moves the lead on; the move goes to MasterDeal as a change event, applied once.
            let lead = try #require(system.amo.allLeads(includingDeleted: false).first { $0.name == "Алтай, 5 ночей" })
            _ = try system.amo.editAsSalesperson(
                leadID: lead.id, userID: 6_001_001, AmoLeadFields(statusID: 7_001_004, pipelineID: 7_001_000))
            try await system.eventually("MasterDeal's deal reaches proposal", timeout: .seconds(60)) {
                system.masterDeal.deal(id: deal.id)?.stage == "proposal"
            }
            // The bus counts the change just after the simulator applied it.
            try await system.eventually("the bus counted the change", timeout: .seconds(10)) { bus.stats.changesApplied == 1 }
            #expect(bus.stats.changesRefused == 0, "\(bus.refusals)")
            // The move's echo (StageChanged at version 2, source dealsync) comes back over the bus and is processed without a write.
            do {
                try await system.eventually("the echo is processed", timeout: .seconds(30)) {
                    try await inbox(system).contains { $0.key == "deal:\(deal.id):v2" && $0.status == "processed" }
                }
            } catch {
                print(
                    try await inbox(system), system.masterDeal.eventHistory.map { ($0.event.type, $0.event.version, $0.event.source) },
                    bus.stats)
                throw error
            }
            // Deciding the echo wrote no outbox row (rows are written in the same transaction that marks it processed).
            #expect(try await outboxRows(system, target: "masterdeal") == 1, "only the move was sent to MasterDeal")
            #expect(system.masterDeal.deal(id: deal.id)?.version == 2)
            let metrics = system.gateway.metrics.exposition()
            #expect(metrics.contains(#"dealsync_kafka_published_total{connector="masterdeal",outcome="acknowledged"} 1"#))
            #expect(metrics.contains(#"dealsync_kafka_consumed_total{connector="masterdeal",outcome="stored"} 2"#))
        }
    }

    /// The decision feed's events for one deal, read from its topic until `count` have come (or 30 s passed).
    static func decisions(_ cluster: KafkaMockCluster, deal: String, count: Int) async throws -> [KafkaMessage] {
        let consumer = try KafkaConsumer(
            properties: ["bootstrap.servers": cluster.bootstrapServers, "group.id": "feed-reader", "auto.offset.reset": "earliest"],
            topics: [SyncSystem.decisionsTopic], logger: TestPostgres.logger)
        var messages: [KafkaMessage] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while messages.filter({ $0.key == Data(deal.utf8) }).count < count && ContinuousClock.now < deadline {
            messages += await consumer.poll(maxMessages: 50, timeout: .milliseconds(200)).messages
        }
        await consumer.close()
        return messages
    }

    @Test func everyDecidedChangeIsPublishedToTheDecisionFeedInTheOrderDecided() async throws {
        var options = Self.options
        options.decisionFeed = true
        try await SyncSystem.run(options) { system in
            let cluster = try #require(system.kafka)
            let deal = try system.masterDeal.createAsUser(Self.tourDeal)
            try await system.eventually("the lead exists in amoCRM", timeout: .seconds(60)) {
                system.amo.allLeads(includingDeleted: false).contains { $0.name == "Алтай, 5 ночей" }
            }
            let lead = try #require(system.amo.allLeads(includingDeleted: false).first { $0.name == "Алтай, 5 ночей" })
            try await system.eventually("the lead carries the MasterDeal id", timeout: .seconds(30)) {
                system.amo.lead(id: lead.id)?.values(ofField: 900_001) == [deal.id]
            }
            _ = try system.amo.editAsSalesperson(
                leadID: lead.id, userID: 6_001_001, AmoLeadFields(statusID: 7_001_004, pipelineID: 7_001_000))
            try await system.eventually("MasterDeal's deal reaches proposal", timeout: .seconds(60)) {
                system.masterDeal.deal(id: deal.id)?.stage == "proposal"
            }
            // The move's echo is processed: every decision this story makes has been made.
            try await system.eventually("the echo is processed", timeout: .seconds(30)) {
                try await inbox(system).contains { $0.key == "deal:\(deal.id):v2" && $0.status == "processed" }
            }
            let messages = try await Self.decisions(cluster, deal: deal.id, count: 2)
            let events = try messages.filter { $0.key == Data(deal.id.utf8) }.map { try #require(JSONValue.parse($0.value)) }
            let story = events.map { "\($0["direction"]?.string ?? "?") \($0["operation"]?.string ?? "?") \($0["target"]?.string ?? "?")" }
            // The create decided from MasterDeal's deal, then the salesperson's move decided for MasterDeal; the lead's
            // link field written back in between is bookkeeping, not a change of the deal, and is not published.
            #expect(story == ["to_crm create tour", "to_masterdeal update masterdeal"], "\(events)")
            try #require(events.count == 2)
            #expect(events[0]["fields"]?["title"] == .string("Алтай, 5 ночей"))
            #expect(events[0]["fields"]?["stage"] == .string("lead"))
            #expect(events[0]["fields"]?["amount"] == .object(["amount": .string("90000.00"), "currency": .string("RUB")]))
            #expect(events[1]["fields"] == .object(["stage": .string("proposal")]), "the canonical stage, not amoCRM's status id")
            #expect(events[1]["record_id"] == .string(String(lead.id)))
            #expect(events.allSatisfy { $0["master_deal_id"] == .string(deal.id) && $0["link_id"]?.int64 != nil })
            let keyed = messages.filter { $0.key == Data(deal.id.utf8) }
            #expect(Set(keyed.map(\.partition)).count == 1, "one deal's events in one partition")

            // Through the outbox like any write: both rows done, none left, and the sync itself unchanged.
            var feedRows: [String: Int] = [:]
            let rows = try await system.database.client.query(
                "SELECT status, count(*)::int8 FROM outbox WHERE target = 'masterdeal.decisions' GROUP BY status")
            for try await (status, count) in rows.decode((String, Int).self) { feedRows[status] = count }
            #expect(feedRows == ["done": 2], "\(feedRows)")
            #expect(try await outboxRows(system, target: "masterdeal") == 1, "only the move was sent to MasterDeal")
            let metrics = system.gateway.metrics.exposition()
            #expect(metrics.contains(#"dealsync_kafka_published_total{connector="masterdeal.decisions",outcome="acknowledged"} 2"#))

            let check = try await ContractCheck.events(keyed.map(\.value))
            #expect(check.status == 0, "\(check.output)")
        }
    }

    @Test func aDealCreatedInAmoCRMIsCreatedInMasterDealUnderTheProposedID() async throws {
        let options = Self.options
        try await SyncSystem.run(options) { system in
            let bus = try #require(system.bus)
            let lead = try system.amo.createAsSalesperson(
                userID: 6_001_002,
                AmoLeadFields(
                    name: "Байкал, 3 ночи", price: 45_000, statusID: 7_001_002, pipelineID: 7_001_000))
            try await system.eventually("MasterDeal has the deal", timeout: .seconds(60)) {
                system.masterDeal.allDeals().contains { $0.opportunityName == "Байкал, 3 ночи" }
            }
            let deal = try #require(system.masterDeal.allDeals().first { $0.opportunityName == "Байкал, 3 ночи" })
            #expect(deal.stage == "qualified")
            #expect(deal.ownerID == "u-ivan")
            try await system.eventually("the lead carries the MasterDeal id", timeout: .seconds(30)) {
                system.amo.lead(id: lead.id)?.values(ofField: 900_001) == [deal.id]
            }
            #expect(system.masterDeal.allDeals().count == 1, "one deal, however often the create was sent")
            try await system.eventually("the bus counted the change", timeout: .seconds(10)) { bus.stats.changesApplied == 1 }
        }
    }

    @Test func aPoisonMessageIsSetAsideWithItsReasonAndTheDealBehindItStillFlows() async throws {
        let options = Self.options
        try await SyncSystem.run(options) { system in
            let cluster = try #require(system.kafka)
            let producer = try KafkaProducer(properties: ["bootstrap.servers": cluster.bootstrapServers], logger: TestPostgres.logger)
            // On the partition the next deal's events use: the poison must not block it.
            let poison: [(String, Data)] = [
                ("garbage", Data("{not json".utf8)),
                ("wrong type", Data(#"{"event_id":"7b0f0c6e-1f7a-4c55-9a51-0f3b4a1e9d20","type":"DealExploded"}"#.utf8)),
            ]
            for (_, value) in poison {
                _ = try await producer.send(KafkaOutgoingMessage(topic: SyncSystem.eventsTopic, key: Data("d-1".utf8), value: value))
            }
            await producer.close()
            var fields = Self.tourDeal.objectValue!
            fields["id"] = .string("d-1")
            let deal = try system.masterDeal.createAsUser(.object(fields))
            try await system.eventually("the lead exists in amoCRM", timeout: .seconds(60)) {
                system.amo.allLeads(includingDeleted: false).contains { $0.name == "Алтай, 5 ночей" }
            }
            let rows = try await inbox(system)
            let refused = rows.filter { $0.status == "failed" }
            #expect(refused.count == 2)
            #expect(refused.contains { $0.error == "not JSON" })
            #expect(refused.contains { $0.error == "not a MasterDeal event: type: not a MasterDeal event type" })
            #expect(refused.allSatisfy { $0.key.hasPrefix("kafka:\(SyncSystem.eventsTopic):") })
            #expect(rows.contains { $0.key == "deal:\(deal.id):v1" && $0.status == "processed" })
            let metrics = system.gateway.metrics.exposition()
            #expect(metrics.contains(#"dealsync_kafka_consumed_total{connector="masterdeal",outcome="refused"} 2"#))
        }
    }

    @Test func aRedeliveredEventIsStoredOnce() async throws {
        let options = Self.options
        try await SyncSystem.run(options) { system in
            let cluster = try #require(system.kafka)
            let deal = try system.masterDeal.createAsUser(Self.tourDeal)
            try await system.eventually("the event is stored", timeout: .seconds(60)) {
                try await inbox(system).contains { $0.key == "deal:\(deal.id):v1" }
            }
            // The same event again, as a producer retrying after a lost acknowledgement would send it.
            let event = try #require(system.masterDeal.eventHistory.first?.event)
            let producer = try KafkaProducer(properties: ["bootstrap.servers": cluster.bootstrapServers], logger: TestPostgres.logger)
            _ = try await producer.send(
                KafkaOutgoingMessage(topic: SyncSystem.eventsTopic, key: Data(deal.id.utf8), value: event.json.serialized()))
            await producer.close()
            try await system.eventually("the copy was consumed", timeout: .seconds(30)) {
                system.gateway.metrics.exposition().contains(
                    #"dealsync_kafka_consumed_total{connector="masterdeal",outcome="duplicate"} 1"#)
            }
            #expect(try await inbox(system).count { $0.key == "deal:\(deal.id):v1" } == 1)
        }
    }

    @Test func whileEveryBrokerIsDownNothingArrivesAndAfterwardsEverythingDoes() async throws {
        try await SyncSystem.run(Self.options) { system in
            let cluster = try #require(system.kafka)
            let bus = try #require(system.bus)
            // A first deal proves the path works before the outage.
            let first = try system.masterDeal.createAsUser(Self.tourDeal)
            try await system.eventually("the first deal's event is stored", timeout: .seconds(60)) {
                try await inbox(system).contains { $0.key == "deal:\(first.id):v1" }
            }
            for broker in 1...3 { try cluster.setBroker(Int32(broker), up: false) }
            var renamed: [String] = []
            for index in 0..<3 {
                var fields = Self.tourDeal.objectValue!
                fields["opportunity_name"] = .string("Outage \(index)")
                renamed.append(try system.masterDeal.createAsUser(.object(fields)).id)
            }
            // The gateway saw the outage (its consumer reported errors), and nothing of the three got through.
            try await system.eventually("the consumer notices the brokers are gone", timeout: .seconds(30)) {
                !system.gateway.metrics.exposition().contains(#"dealsync_kafka_consumer_errors_total{connector="masterdeal"} 0"#)
            }
            let during = try await inbox(system)
            #expect(!during.contains { row in renamed.contains { row.key == "deal:\($0):v1" } })
            for broker in 1...3 { try cluster.setBroker(Int32(broker), up: true) }
            let restored = ContinuousClock.now
            defer { print("brokers back: every deal in amoCRM after \(restored.duration(to: .now))") }
            try await system.eventually("every deal reached amoCRM", timeout: .seconds(90)) {
                let names = Set(system.amo.allLeads(includingDeleted: false).map(\.name))
                return (0..<3).allSatisfy { names.contains("Outage \($0)") }
            }
            #expect(bus.stats.publishFailed == 0, "the simulator's producer held the events through the outage")
            #expect(system.amo.allLeads(includingDeleted: true).count == 4)
        }
    }
}
