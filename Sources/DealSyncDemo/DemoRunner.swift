import DealSyncConnectors
import DealSyncCore
import DealSyncGateway
import DealSyncKafka
import DealSyncSimulators
import DealSyncStore
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// `dealsync demo`: a private PostgreSQL, the MasterDeal and amoCRM simulators and the gateway, configured from
/// the shipped `connectors/` and `mappings/`, playing a scenario that shows each capability and checking the end
/// state itself.
public struct DemoRunner: Sendable {
    public struct Options: Sendable {
        public var configDirectory = "."
        public var keepRunning = false
        public var gatewayPort = 0
        /// How MasterDeal talks to dealsync: signed webhooks and REST (`http`), or a Kafka bus (`kafka`).
        public var bus = Bus.http
        /// Services to run with the gateway (the trace exporter, when `OTEL_*` asks for traces); run first, stopped last.
        public var services: [any Service] = []
        /// Multiplies how long each step waits before it counts as failed (``DemoWaiting/patience``).
        public var patience: Double = 1
        public init() {}
    }

    public enum Bus: String, Sendable, CaseIterable {
        case http, kafka
    }

    let options: Options
    let timeline: Timeline
    let logger: Logger

    public init(options: Options, timeline: Timeline) {
        self.options = options
        self.timeline = timeline
        var logger = Logger(label: "demo")
        logger.logLevel = .critical
        self.logger = logger
    }

    /// Runs the whole demo; returns whether every check passed.
    public func run() async throws -> Bool {
        try await DemoWaiting.$patience.withValue(options.patience) { try await play() }
    }

    private func play() async throws -> Bool {
        timeline.chapter("Starting a private PostgreSQL, the MasterDeal and amoCRM simulators and the gateway")
        let cluster = try EmbeddedPostgres.start()
        defer { cluster.stop() }
        timeline.event("postgres", "private cluster at \(cluster.url.host):\(cluster.url.port) (removed on exit)")
        let environment = try DemoEnvironment(directory: options.configDirectory, gatewayPort: options.gatewayPort)
        return try await environment.withStage(cluster: cluster.url, logger: logger) { stage in
            timeline.event("masterdeal", "simulator at \(stage.masterURL)")
            timeline.event("amocrm", "simulator at \(stage.amoURL) (pipeline «\(stage.mapping.name)», 7 requests/s)")
            timeline.event("bitrix24", "simulator at \(stage.bitrixURL) (funnel «Клиенты», leaky bucket 2/s of 50)")
            var configuration = stage.configuration
            var extra: [any Service] = []
            var kafka: KafkaMockCluster?
            defer { kafka?.shutdown() }
            if options.bus == .kafka {
                let (cluster, bus) = try MasterDealBus.onMockCluster(stage.masterDeal, logger: logger)
                kafka = cluster
                stage.masterDeal.setEventTargets([])
                configuration = Self.onTheBus(configuration, bus: bus)
                extra.append(bus)
                timeline.event(
                    "kafka",
                    "mock cluster at \(cluster.bootstrapServers): MasterDeal publishes to \(bus.settings.eventsTopic) and "
                        + "applies \(bus.settings.changesTopic); no webhooks from MasterDeal")
            }
            return try await runGateway(
                configuration: configuration, database: stage.database, environment: environment, extra: extra,
                system: DemoSystem(
                    masterDeal: stage.masterDeal, amo: stage.amo, bitrix: stage.bitrix,
                    masterURL: stage.masterURL, amoURL: stage.amoURL, bitrixURL: stage.bitrixURL,
                    database: stage.database, mapping: stage.mapping, cluster: cluster.url))
        }
    }

    /// The configuration with the MasterDeal connector consuming and publishing on `bus` (no webhooks from it).
    static func onTheBus(_ configuration: Configuration, bus: MasterDealBus) -> Configuration {
        var configuration = configuration
        let brokers = ConnectorConfig.KafkaBus(brokers: bus.settings.bootstrapServers.split(separator: ",").map(String.init))
        for index in configuration.connectors.indices where configuration.connectors[index].kind == .masterdeal {
            configuration.connectors[index].events = .init(bus: brokers, topic: bus.settings.eventsTopic)
            configuration.connectors[index].writes = .kafka(bus: brokers, topic: bus.settings.changesTopic)
        }
        return configuration
    }

    private func runGateway(
        configuration: Configuration, database: Database, environment: DemoEnvironment, extra: [any Service] = [],
        system: DemoSystem
    ) async throws -> Bool {
        var gatewayOptions = Gateway.Options()
        gatewayOptions.port = environment.gatewayPort
        gatewayOptions.relayIdlePoll = .milliseconds(200)
        gatewayOptions.statsInterval = .seconds(1)
        gatewayOptions.pausedProbe = .seconds(2)
        let gateway = Gateway(configuration: configuration, database: database, options: gatewayOptions, logger: logger)
        let signals: [UnixSignal] = options.keepRunning ? [.sigterm, .sigint] : []
        let group = ServiceGroup(
            configuration: .init(
                services: (options.services + gateway.services() + extra).map { .init(service: $0) },
                gracefulShutdownSignals: signals, logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let gatewayURL = "http://127.0.0.1:\(environment.gatewayPort)"
            try await DemoWaiting.until("the gateway answers", timeout: .seconds(20)) {
                await DemoHTTP.status("\(gatewayURL)/readyz") == 200
            }
            timeline.event("dealsync", "gateway at \(gatewayURL): webhooks, /healthz, /readyz, /metrics")
            let scenario = DemoScenario(system: system, timeline: timeline, replay: gateway.replay, gatewayURL: gatewayURL)
            do {
                let dealID = try await scenario.play()
                try await DemoHistory.tell(
                    dealID: dealID, configuration: configuration, database: database, timeline: timeline, logger: logger)
            } catch {
                timeline.check("the scenario ran to its end", false, detail: "\(error)")
                // What amoCRM sent meanwhile, so a failed run says whether a webhook went unanswered or was answered.
                for attempt in system.amo.webhookHistory.suffix(6) {
                    let answer = attempt.status.map { "HTTP \($0)" } ?? "no answer within amoCRM's timeout"
                    timeline.event(
                        "amocrm",
                        "webhook \(attempt.deliveryID), attempt \(attempt.attempt), at \(Timestamp.eventTime(attempt.at)): \(answer)")
                }
            }
            if options.keepRunning {
                printNextSteps(gatewayURL: gatewayURL, system: system)
                try await tasks.waitForAll()
            } else {
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            return timeline.failed.isEmpty
        }
    }

    private func printNextSteps(gatewayURL: String, system: DemoSystem) {
        let database = system.cluster.revealedURLString()
        timeline.write(
            """

            Everything stays up until Ctrl-C:
              gateway      \(gatewayURL)   (/metrics, /readyz)
              MasterDeal   \(system.masterURL)   (GET /_sim/deals)
              amoCRM       \(system.amoURL)   (GET /_sim/leads)
              Bitrix24     \(system.bitrixURL)   (GET /_sim/deals)
              database     \(database)

            Try:
              export DATABASE_URL='\(database)'
              .build/debug/dealsync dlq list --status all
              .build/debug/dealsync dlq show 1
              .build/debug/dealsync dlq audit
              curl -s \(gatewayURL)/metrics | grep dealsync_
              curl -s -X PATCH \(system.amoURL)/_sim/leads/<id> -d '{"user_id":6001002,"name":"Новое имя"}'
            """)
    }
}
