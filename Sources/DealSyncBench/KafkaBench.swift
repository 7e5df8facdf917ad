import AsyncHTTPClient
import DealSyncCore
import DealSyncKafka
import DealSyncStore
import DealSyncTestSupport
import Foundation
import Logging
import PostgresNIO

/// The bus benchmark: librdkafka's mock cluster (in this process, on loopback), PostgreSQL with `fsync` on, and
/// `dealsync serve` as its own process.
///
/// - consume: MasterDeal events already on the events topic (8 partitions), published by this process with its
///   own JSON; an intake-only `serve` stores them; events per second from the first row stored to the last.
/// - publish: an amoCRM backlog (new leads) stored by an intake-only `serve`, then decided by a full one whose
///   MasterDeal writes go to Kafka; `DealChangeRequested` events per second from the first write acknowledged to
///   the last.
struct KafkaBench {
    let repository: String
    let binaries: String
    let quick: Bool
    let say: @Sendable (String) -> Void

    struct Figures {
        var consumed = 0
        var consumedPerSecond = 0.0
        var published = 0
        var publishedPerSecond = 0.0
        var peakRSS = 0.0
    }

    static let eventsTopic = "masterdeal.deal-events"
    static let changesTopic = "dealsync.crm-changes"

    func run() async throws -> Figures {
        let events = quick ? 5_000 : 50_000
        let leads = quick ? 2_000 : 10_000
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let kafka = try KafkaMockCluster(brokers: 3, logger: logger)
        defer { kafka.shutdown() }
        try kafka.createTopic(Self.eventsTopic, partitions: 8)
        try kafka.createTopic(Self.changesTopic, partitions: 8)
        let cluster = try await BenchConfig.durableCluster(creating: ["dealsync"], logger: logger)
        defer { cluster.stop() }
        let databaseURL = cluster.url.with(database: "dealsync")
        let directory = NSTemporaryDirectory() + "dealsync-kafka-bench-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try BenchConfig.write(
            into: directory, repository: repository, masterURL: "http://127.0.0.1:1", amoA: "http://127.0.0.1:1",
            amoB: "http://127.0.0.1:1")
        let gatewayPort = try EmbeddedPostgres.freePort()
        let sims = try ChildProgram(
            "\(binaries)/dealsync-bench",
            ["sims", "--config", directory, "--gateway-port", "\(gatewayPort)", "--leads-a", "\(leads)", "--leads-b", "10"])
        defer { sims.signal(SIGTERM) }
        let ready = try await ServeBench.awaitReady(sims)
        try BenchConfig.write(
            into: directory, repository: repository, masterURL: ready.master, amoA: ready.amoA, amoB: ready.amoB,
            masterExtra: """
                events: {kafka: {brokers: "\(kafka.bootstrapServers)", topic: \(Self.eventsTopic), group: dealsync}}
                writes: {kafka: {topic: \(Self.changesTopic)}}
                """)
        say(
            "Kafka: mock cluster \(kafka.bootstrapServers) (3 brokers, 8 partitions per topic, in the load's process); "
                + "PostgreSQL with fsync on; dealsync serve its own process")
        let gateway = GatewayProcess(binary: "\(binaries)/dealsync", config: directory, database: databaseURL, port: gatewayPort)
        return try await Database.withDatabase(databaseURL, logger: logger) { database in
            var figures = Figures()
            // 1. Consume.
            let producer = try KafkaProducer(properties: ["bootstrap.servers": kafka.bootstrapServers], logger: logger)
            var messages: [KafkaOutgoingMessage] = []
            for index in 0..<events {
                let id = "bench-\(index)"
                messages.append(
                    KafkaOutgoingMessage(topic: Self.eventsTopic, key: Data(id.utf8), value: Self.event(dealID: id, index: index)))
            }
            let sent = await producer.send(messages)
            await producer.close()
            guard sent.allSatisfy({ (try? $0.get()) != nil }) else { throw BenchError("publishing the events failed") }
            try await gateway.start(intakeOnly: true)
            let consumed = try await Self.rate(
                of: events, database: database, logger: logger,
                count: "SELECT count(*)::int8 FROM inbox WHERE source = 'kafka' AND status = 'pending'")
            figures.consumed = events
            figures.consumedPerSecond = consumed
            figures.peakRSS = max(figures.peakRSS, gateway.peakRSS())
            try await gateway.stop()
            say(String(format: "consume: %d MasterDeal events from the topic into the inbox: %.0f events/s", events, consumed))
            _ = try await database.client.query("TRUNCATE inbox CASCADE", logger: logger)

            // 2. Publish.
            var clientConfiguration = HTTPClient.Configuration(timeout: .init(connect: .seconds(5), read: .seconds(30)))
            clientConfiguration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
            try await gateway.start(intakeOnly: true)
            let hook = "\(gateway.url)/webhooks/tour-a/\(BenchConfig.values["TOUR_A_WEBHOOK_SECRET"]!)"
            var fill = try await AmoLoad(url: hook, client: client).send(leads: ready.leadsA)
            for _ in 0..<5 where !fill.refused.isEmpty { fill = try await AmoLoad(url: hook, client: client).send(leads: fill.refused) }
            try await gateway.stop()
            try? await client.shutdown()
            guard fill.refused.isEmpty else { throw BenchError("filling the backlog: \(fill.statuses)") }
            try await gateway.start()
            let published = try await Self.rate(
                of: leads, database: database, logger: logger,
                count: "SELECT count(*)::int8 FROM outbox WHERE target = 'masterdeal' AND status = 'done'")
            figures.published = leads
            figures.publishedPerSecond = published
            figures.peakRSS = max(figures.peakRSS, gateway.peakRSS())
            try await gateway.stop()
            say(
                String(
                    format:
                        "publish: %d writes decided from amoCRM leads, published to the changes topic through the outbox: %.0f events/s "
                        + "(the lanes decide meanwhile)", leads, published))
            return figures
        }
    }

    /// Waits until `count` reaches `total`, and returns how many per second it rose from the first sample above 0.
    static func rate(of total: Int, database: Database, logger: Logger, count sql: String) async throws -> Double {
        let deadline = ContinuousClock.now.advanced(by: .seconds(600))
        var first: (at: ContinuousClock.Instant, count: Int)?
        while ContinuousClock.now < deadline {
            var now = 0
            for try await value in try await database.client.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int.self) {
                now = value
            }
            if first == nil, now > 0 { first = (.now, now) }
            if now >= total, let first {
                return Double(now - first.count) / max(first.at.duration(to: .now).seconds, 0.001)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BenchError("\(total) not reached within 10 minutes")
    }

    /// A `DealCreated` event, written out by hand (the benchmark's own encoding).
    static func event(dealID: String, index: Int) -> Data {
        let uuid = UUID().uuidString.lowercased()
        let stamp = "2026-12-05T08:00:00.000Z"
        return Data(
            ("{\"event_id\":\"\(uuid)\",\"type\":\"DealCreated\",\"occurred_at\":\"\(stamp)\",\"source\":\"masterdeal-ui\","
                + "\"version\":1,\"deal\":{\"id\":\"\(dealID)\",\"account_id\":\"acc-a\",\"opportunity_name\":\"Bench \(index)\","
                + "\"stage\":\"lead\",\"amount\":\"\(1000 + index).00\",\"currency\":\"RUB\",\"owner_id\":null,\"sla_due_at\":null,"
                + "\"created_at\":\"\(stamp)\",\"updated_at\":\"\(stamp)\",\"version\":1,\"attributes\":{}}}").utf8)
    }
}
