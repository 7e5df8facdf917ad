import DealSyncCore
import Foundation
import Testing

/// `events.kafka`, `writes` and `decisions` in a MasterDeal connector: what loads, and what is refused at its
/// position.
struct KafkaConfigTests {
    static let base = """
        id: masterdeal
        kind: masterdeal
        base_url: http://127.0.0.1:9001
        auth:
          bearer_token: ${MD_TOKEN}
        """

    func load(_ extra: String, environment: [String: String] = ConfigFixtures.environment) throws -> ConnectorConfig {
        let configuration = try ConfigFixtures.load(
            connectors: [("connectors/masterdeal.yaml", Self.base + "\n" + extra), ("connectors/tour.yaml", ConfigFixtures.amo)],
            environment: environment
        ).get()
        return try #require(configuration.connector("masterdeal"))
    }

    /// The problems found in the MasterDeal connector's file (the CRM's file then also says it has no MasterDeal).
    func errors(_ extra: String) -> [String] {
        ConfigFixtures.diagnostics(connectors: [
            ("connectors/masterdeal.yaml", Self.base + "\n" + extra), ("connectors/tour.yaml", ConfigFixtures.amo),
        ])
        .filter { $0.hasPrefix("connectors/masterdeal.yaml") }
    }

    @Test func eventsFromATopicWithWritesToAnotherLoadWithoutWebhooks() throws {
        var environment = ConfigFixtures.environment
        environment["KAFKA_PASSWORD"] = "s3cret-pass"
        let config = try load(
            """
            events:
              kafka:
                brokers: [kafka-1:9093, kafka-2:9093]
                topic: masterdeal.deal-events
                group: dealsync-prod
                tls: true
                sasl:
                  mechanism: SCRAM-SHA-512
                  username: dealsync
                  password: ${KAFKA_PASSWORD}
                client_properties: {fetch.max.bytes: "1048576"}
            writes: kafka
            """, environment: environment)
        let events = try #require(config.events)
        #expect(events.topic == "masterdeal.deal-events")
        #expect(events.group == "dealsync-prod")
        let properties = events.bus.clientProperties
        #expect(properties["bootstrap.servers"] == "kafka-1:9093,kafka-2:9093")
        #expect(properties["security.protocol"] == "sasl_ssl")
        #expect(properties["sasl.mechanisms"] == "SCRAM-SHA-512")
        #expect(properties["sasl.password"] == "s3cret-pass")
        #expect(properties["fetch.max.bytes"] == "1048576")
        guard case .kafka(let bus, let topic) = config.writes else { Issue.record("writes: \(config.writes)"); return }
        #expect(topic == "dealsync.crm-changes")
        #expect(bus.brokers == ["kafka-1:9093", "kafka-2:9093"])
    }

    @Test func writesToKafkaMayNameTheirOwnBrokersAndTopic() throws {
        let config = try load(
            """
            webhook:
              secret: ${MD_SECRET}
            writes: {kafka: {brokers: "bus:9092", topic: crm.changes}}
            """)
        #expect(config.events == nil)
        guard case .kafka(let bus, let topic) = config.writes else { Issue.record("writes: \(config.writes)"); return }
        #expect(topic == "crm.changes")
        #expect(bus.clientProperties["bootstrap.servers"] == "bus:9092")
        #expect(bus.clientProperties["security.protocol"] == "plaintext")
    }

    @Test func theDecisionFeedSharesABusOfTheConnectorOrNamesItsOwn() throws {
        let shared = try load(
            """
            events: {kafka: {brokers: "events:9092", topic: md.events}}
            decisions: kafka
            """)
        let feed = try #require(shared.decisions)
        #expect(feed.topic == "dealsync.decisions")
        #expect(feed.bus.clientProperties["bootstrap.servers"] == "events:9092")
        #expect(ConnectorConfig.DecisionFeed.target(of: shared.id) == "masterdeal.decisions")

        let writesBus = try load(
            """
            webhook: {secret: x}
            writes: {kafka: {brokers: "writes:9092"}}
            decisions: {kafka: {topic: sync.decided}}
            """)
        #expect(writesBus.decisions?.topic == "sync.decided")
        #expect(writesBus.decisions?.bus.clientProperties["bootstrap.servers"] == "writes:9092")

        let own = try load(
            """
            webhook: {secret: x}
            decisions: {kafka: {brokers: "feed:9092", tls: true}}
            """)
        #expect(own.decisions?.bus.clientProperties["bootstrap.servers"] == "feed:9092")
        #expect(own.decisions?.bus.clientProperties["security.protocol"] == "ssl")
        guard case .http = own.writes else { Issue.record("writes: \(own.writes)"); return }

        #expect(try load("webhook: {secret: x}").decisions == nil)
    }

    @Test func theSyncSetupPublishesDecisionsOnlyWhenTheFeedIsConfigured() throws {
        let with = try ConfigFixtures.load(
            connectors: [
                ("connectors/masterdeal.yaml", Self.base + "\nwebhook: {secret: x}\ndecisions: {kafka: {brokers: \"feed:9092\"}}"),
                ("connectors/tour.yaml", ConfigFixtures.amo),
            ],
            environment: ConfigFixtures.environment
        ).get()
        #expect(SyncSetup(configuration: with).decisionFeed == "masterdeal.decisions")
        let without = try ConfigFixtures.load(
            connectors: [
                ("connectors/masterdeal.yaml", Self.base + "\nwebhook: {secret: x}"), ("connectors/tour.yaml", ConfigFixtures.amo),
            ],
            environment: ConfigFixtures.environment
        ).get()
        #expect(SyncSetup(configuration: without).decisionFeed == nil)
    }

    @Test func withoutWritesTheyGoOverHTTP() throws {
        let config = try load("webhook:\n  secret: ${MD_SECRET}")
        guard case .http = config.writes else { Issue.record("writes: \(config.writes)"); return }
    }

    @Test(arguments: [
        (
            "events: {kafka: {brokers: [kafka-1], topic: t}}",
            "connectors/masterdeal.yaml:6:28: events.kafka.brokers: 'kafka-1' is not host:port"
        ),
        (
            "events: {kafka: {brokers: \"k:9092\", topic: \"bad topic\"}}",
            "connectors/masterdeal.yaml:6:44: events.kafka.topic: 'bad topic' is not a Kafka topic name (letters, digits, '.', '_', '-', at most 249)"
        ),
        (
            "events: {kafka: {brokers: \"k:9092\"}}",
            "connectors/masterdeal.yaml:6:17: events.kafka: missing required key 'topic'"
        ),
        (
            "events: {kafka: {brokers: \"k:9092\", topic: t, client_properties: {sasl.password: x}}}",
            "connectors/masterdeal.yaml:6:67: events.kafka.client_properties.sasl.password: set through brokers, tls and sasl instead"
        ),
        (
            "events: {kafka: {brokers: \"k:9092\", topic: t, sasl: {mechanism: GSSAPI, username: u, password: p}}}",
            #"connectors/masterdeal.yaml:6:65: events.kafka.sasl.mechanism: expected one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, found "GSSAPI""#
        ),
        (
            "webhook: {secret: x}\nwrites: kafka",
            "connectors/masterdeal.yaml:7:9: writes: kafka needs the brokers: give events.kafka, or writes: {kafka: {brokers: …, topic: …}}"
        ),
        (
            "webhook: {secret: x}\nwrites: smtp",
            #"connectors/masterdeal.yaml:7:9: writes: expected http or kafka, found "smtp""#
        ),
        (
            "webhook: {secret: x}\ndecisions: kafka",
            "connectors/masterdeal.yaml:7:12: decisions: kafka needs the brokers: give events.kafka, or decisions: {kafka: {brokers: …, topic: …}}"
        ),
        (
            "webhook: {secret: x}\ndecisions: http",
            #"connectors/masterdeal.yaml:7:12: decisions: expected kafka, found "http""#
        ),
        (
            "webhook: {secret: x}\ndecisions: {kafka: {topic: t}}",
            "connectors/masterdeal.yaml:7:20: decisions.kafka: missing required key 'brokers' (or give events.kafka to share its brokers)"
        ),
        (
            "events: {kafka: {brokers: \"k:9092\", topic: t, partitions: 3}}",
            "connectors/masterdeal.yaml:6:47: unknown key 'partitions' in events.kafka (expected one of: brokers, client_properties, group, sasl, tls, topic)"
        ),
    ])
    func aBrokenBusSectionIsRefusedAtItsPosition(extra: String, expected: String) {
        let found = errors(extra)
        #expect(found == [expected])
    }

    @Test func aCRMConnectorPublishesNoDecisionFeed() {
        let amo = ConfigFixtures.amo + "\ndecisions: {kafka: {brokers: \"k:9092\"}}"
        let found = ConfigFixtures.diagnostics(connectors: [
            ("connectors/masterdeal.yaml", ConfigFixtures.masterDeal), ("connectors/tour.yaml", amo),
        ])
        #expect(found.count == 1)
        #expect(found.first?.contains("decisions: only a masterdeal connector publishes the decision feed") == true, "\(found)")
    }

    @Test func aCRMConnectorTakesNoEventsFromKafka() {
        let amo = ConfigFixtures.amo + "\nevents: {kafka: {brokers: \"k:9092\", topic: t}}"
        let found = ConfigFixtures.diagnostics(connectors: [
            ("connectors/masterdeal.yaml", ConfigFixtures.masterDeal), ("connectors/tour.yaml", amo),
        ])
        #expect(found.count == 1)
        #expect(found.first?.contains("events: only a masterdeal connector takes its events from Kafka") == true, "\(found)")
    }
}
