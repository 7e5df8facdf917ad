import AsyncHTTPClient
import DealSyncConnectors
import DealSyncCore
import DealSyncKafka
import DealSyncStore
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The connector host: webhook routes with group-committed intake, one inbox lane per connector, pollers and
/// outbox relays over one database, as services for one `ServiceGroup` (`dealsync serve`, the demo and the
/// end-to-end tests).
public final class Gateway: Sendable {
    public struct Options: Sendable {
        public var host = "127.0.0.1"
        public var port = 8080
        /// Only take webhooks in (no lanes, pollers or relays): front processes that store what CRMs send while
        /// others do the work, and the benchmark's intake measurement.
        public var intakeOnly = false
        /// Inbox rows decided per transaction by each connector's lane.
        public var inboxBatchSize = 200
        /// Batches of a lane under way at once (the next claimed once the one before holds its records' locks).
        public var inboxOverlap = 4
        /// Group commit at intake: the most webhooks stored per transaction, and how many transactions at once.
        public var intake = InboxWriter.Options()
        public var bodyLimit = 1 << 20
        /// A connection with no request in progress is closed after this long; it also bounds how long a
        /// request's head may take to arrive (Hummingbird's idle timeout).
        public var idleTimeout: Duration = .seconds(15)
        /// A request's head and body must arrive in full within this long, however slowly they trickle in.
        public var requestReadTimeout: Duration = .seconds(10)
        public var polling = true
        public var statsInterval: Duration = .seconds(5)
        /// The longest an idle relay sleeps: a committed write's `NOTIFY` wakes its target's relays at once and a
        /// retry wakes them when due, so this bounds only what a lost notification costs.
        public var relayIdlePoll: Duration = .seconds(5)
        public var relayLease: Duration = .seconds(90)
        /// Relays of MasterDeal's writes in this process: a round's claim, sending and recording overlap the
        /// others'. Writes stay in order per deal (one in flight per record, whichever relay claims it).
        public var masterDealRelays = 4
        public var pausedProbe: Duration = .seconds(30)
        /// How the connector lanes spread over the `serve` processes present.
        public var lanes = LaneOptions()
        /// How long `serve` lets its services stop on SIGTERM before it cancels them (then 5 s more at most).
        public var shutdownGrace: Duration = .seconds(10)
        /// Identifies this process in outbox claims: host, pid and a random part, because a restarted container
        /// often gets the same host name and pid, and its predecessor's claims must not look alive.
        public var worker =
            "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier):\(UUID().uuidString.prefix(8).lowercased())"

        public init() {}
    }

    public let database: Database
    public let options: Options
    public let metrics: GatewayMetrics
    /// The configuration the gateway runs by, with its connectors and sync context; a reload replaces it whole.
    public let generations: CurrentGeneration
    public var configuration: Configuration { generations.current.configuration }
    public var registry: ConnectorRegistry { generations.current.registry }
    /// The sync store: decisions, delivery outcomes, replays and repairs share its engines and hooks.
    public var sync: SyncContext { generations.current.sync }
    public var inbox: InboxProcessor { InboxProcessor(context: sync) }
    public var outcomes: DeliveryOutcomes { DeliveryOutcomes(context: sync) }
    public var replay: DeadLetterReplay { DeadLetterReplay(context: sync) }
    public var repairs: DriftRepair { DriftRepair(context: sync) }
    /// Intake's group commit.
    public let writer: InboxWriter
    let httpClient: HTTPClient
    let credentials: DatabaseCredentialStore
    let logger: Logger
    let laneWakeups = LaneWakeups()
    /// Per target: a write committed (by any process, through `NOTIFY`) wakes only that target's relays.
    let outboxWakeups = LaneWakeups()
    /// The lane host and what lanes are built from, once ``services(onHTTPRunning:)`` made them: a reload adds
    /// and removes lanes through it.
    let lanesRunning = Mutex<(host: LaneHost, kit: LaneKit)?>(nil)
    /// The decision feed, when MasterDeal's connector has one (built once: MasterDeal's connector changes only at
    /// a restart).
    let decisionFeed: DecisionFeedConnector?

    public init(
        configuration: Configuration, database: Database, options: Options = Options(), logger: Logger,
        metrics: GatewayMetrics = GatewayMetrics()
    ) {
        self.database = database
        self.options = options
        self.logger = logger
        self.metrics = metrics
        self.httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: HTTPTransport.clientConfiguration())
        let credentials = DatabaseCredentialStore(tokens: TokenStore(database: database, logger: logger))
        self.credentials = credentials
        let registry = ConnectorRegistry(
            configuration: configuration, client: httpClient, credentials: credentials, logger: logger,
            metrics: metrics)
        self.generations = CurrentGeneration(
            GatewayGeneration(
                number: 1, configuration: configuration, registry: registry,
                sync: Self.makeSync(configuration, database: database, metrics: metrics, logger: logger)))
        self.writer = InboxWriter(database: database, logger: logger, options: options.intake)
        self.decisionFeed = Self.makeDecisionFeed(configuration, metrics: metrics, logger: logger)
        metrics.register(connectors: configuration.connectors.map { ($0.id, $0.kind) })
    }

    /// The decision feed of MasterDeal's connector, with its producer; a producer that cannot be created (a bad
    /// `client_properties` value) leaves the feed paused with the reason, logged.
    static func makeDecisionFeed(_ configuration: Configuration, metrics: GatewayMetrics, logger: Logger) -> DecisionFeedConnector? {
        guard let master = configuration.masterDeal, let feed = master.decisions else { return nil }
        let id = ConnectorConfig.DecisionFeed.target(of: master.id)
        var feedLogger = logger
        feedLogger[metadataKey: "connector"] = "\(id)"
        var producer: KafkaProducer?
        do {
            producer = try KafkaProducer(
                properties: feed.bus.clientProperties.merging(["client.id": "dealsync-\(id)"]) { $1 }, logger: feedLogger)
            metrics.registerKafka(connector: id, consumes: false, publishes: true)
        } catch {
            feedLogger.error("cannot start the decision feed's Kafka producer", metadata: ["topic": "\(feed.topic)", "error": "\(error)"])
        }
        return DecisionFeedConnector(
            master: master, feed: feed, producer: producer,
            published: { [metrics] acknowledged, failed, seconds in
                metrics.kafkaPublished(id, acknowledged: acknowledged, failed: failed, seconds: seconds)
            })
    }

    static func makeSync(_ configuration: Configuration, database: Database, metrics: GatewayMetrics, logger: Logger) -> SyncContext {
        SyncContext(
            database: database, setup: SyncSetup(configuration: configuration), logger: logger,
            observer: .init(
                processed: { [metrics] connector, result in metrics.inbox(connector, result: result) },
                divergence: { [metrics] connector, kind in metrics.divergence(connector, kind: kind.rawValue) }))
    }

    /// The routes: webhooks, readiness and health, metrics and stats. Webhooks are stored by ``writer``, which must
    /// be running.
    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        GatewayRoutes(
            generations: generations, writer: writer, database: database, metrics: metrics, wakeups: laneWakeups, logger: logger,
            bodyLimit: options.bodyLimit
        ).register(on: router)
        return router
    }

    /// Releases the HTTP client when the gateway's services were never run (CLI commands).
    public func shutdown() async {
        try? await httpClient.shutdown()
    }

    /// The reconciler of a CRM connector (comparing it with MasterDeal), or `nil` for MasterDeal itself; `now` is the
    /// clock its grace and sweep interval are measured by.
    public func reconciler(
        for id: String, settings: ConnectorConfig.Reconcile? = nil, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) -> Reconciler? {
        guard let crm = registry.connector(id), crm.config.kind != .masterdeal, let mapping = configuration.mapping(for: crm.config),
            let master = configuration.masterDeal.flatMap({ registry.connector($0.id) })
        else { return nil }
        return Reconciler(
            crm: crm, master: master, mapping: mapping, repairs: repairs,
            links: LinkReader(database: database, logger: logger), drift: DriftStore(database: database, logger: logger),
            metrics: metrics, logger: logger, settings: settings, generations: generations, now: now)
    }

    /// The services to run after the database client, in start order (they stop in reverse: the HTTP server first,
    /// then intake's group commit once every answered webhook is stored, then relays and lanes, then presence).
    /// Before any of them, when the database is unreachable its pool is closed, so nothing waits for it on the way
    /// down.
    public func services(onHTTPRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> [any Service] {
        let registry = self.registry
        let inboxStore = InboxStore(database: database, logger: logger)
        let claims = OutboxClaims(database: database, logger: logger)
        let kit = LaneKit(
            claims: claims, status: ConnectorStatusStore(database: database, logger: logger),
            polls: PollStore(database: database, logger: logger),
            presence: Presence(claims: claims, worker: options.worker, logger: logger))
        let router = router()
        let readTimeout = TimeAmount(options.requestReadTimeout)
        let app = Application(
            router: router,
            server: .http1(
                configuration: .init(
                    additionalChannelHandlers: [RequestReadDeadline(limit: readTimeout)], idleTimeout: TimeAmount(options.idleTimeout))),
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "dealsync"),
            onServerRunning: { channel in await onHTTPRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
        // Listed last, so told first when the group stops: without a database, nothing should wait for one.
        let release = UnreachableDatabaseRelease(database: database)
        // MasterDeal's events on Kafka are intake too: an intake-only process consumes them as well.
        var kafkaIntakes: [any Service] = []
        for connector in registry.all {
            guard let events = connector.config.events, let master = connector as? MasterDealConnector else { continue }
            metrics.registerKafka(connector: connector.config.id, consumes: true, publishes: false)
            kafkaIntakes.append(
                KafkaIntake(
                    connector: master, events: events, inbox: inboxStore, metrics: metrics, worker: options.worker,
                    logger: logger))
        }
        if options.intakeOnly {
            // Its notices are for the processes that run lanes: it counts them, and hears their greetings.
            let greetings = NoticeListener(database: database, channel: .inbox) { _ in }
            return [
                ClientShutdown(client: httpClient), greetings,
                ListenerCount(claims: claims, interval: options.statsInterval, logger: logger),
            ] + kafkaIntakes + [writer, app, release]
        }
        let generations = self.generations
        let (laneWakeups, outboxWakeups) = (self.laneWakeups, self.outboxWakeups)
        var services: [any Service] = [
            ClientShutdown(client: httpClient),
            // After the relays stop (services stop in reverse order), what they published is flushed.
            KafkaProducersShutdown(producers: registry.producers + [decisionFeed?.producer].compactMap { $0 }),
            kit.presence,
            NoticeListener(database: database, channel: .outbox) { target in
                if target.isEmpty {
                    outboxWakeups.signalAll()
                } else {
                    // One relay of the target looks; it wakes another when it finds a full round.
                    outboxWakeups.lane(target).signalOne()
                }
            },
            NoticeListener(database: database, channel: .inbox) { laneWakeups.signal($0) },
            StatsService(
                claims: claims, inbox: inboxStore, deadLetters: DeadLetterStore(database: database, logger: logger),
                drift: DriftStore(database: database, logger: logger),
                metrics: metrics, limiters: { generations.current.registry.all.map { ($0.config.id, $0.limiter) } },
                shared: registry.all.filter { $0.config.kind == .masterdeal }.map { ($0.config.id, $0.limiter) },
                interval: options.statsInterval, worker: options.worker,
                logger: logger),
        ]
        var lanes: [LaneHost.Lane] = []
        for connector in registry.all {
            guard connector.config.kind == .masterdeal else {
                lanes.append(lane(of: connector, kit: kit))
                continue
            }
            // MasterDeal's inbox and writes are shared by every process; one process polls it. Its events on Kafka
            // are read by every process, as one consumer group.
            let id = connector.config.id
            services += [inboxLane(of: connector, kit: kit)] + relays(of: connector, kit: kit)
            if let poller = poller(of: connector, kit: kit) { lanes.append(.init(name: id, services: [poller])) }
        }
        // The decision feed is shared like MasterDeal's writes: every process's relays take its rows.
        if let decisionFeed { services += relays(of: decisionFeed, kit: kit) }
        // The lanes spread over the processes present: each runs about its share, one lock per lane the guard.
        let host = LaneHost(
            lanes: lanes, database: database, worker: options.worker, metrics: metrics, logger: logger, options: options.lanes)
        lanesRunning.withLock { $0 = (host, kit) }
        services.append(host)
        return services + kafkaIntakes + [writer, app, release]
    }

    /// A CRM connector's lane: its inbox, fetches, poller, reconciler and writes, run in one process at a time
    /// (its rate limits are per account).
    func lane(of connector: any Connector, kit: LaneKit) -> LaneHost.Lane {
        let id = connector.config.id
        var services: [any Service] = [inboxLane(of: connector, kit: kit)]
        if let poller = poller(of: connector, kit: kit) { services.append(poller) }
        if connector.config.reconcile.enabled, let reconciler = reconciler(for: id) { services.append(reconciler) }
        return .init(name: id, services: services + relays(of: connector, kit: kit))
    }

    func inboxLane(of connector: any Connector, kit: LaneKit) -> InboxLane {
        InboxLane(
            connector: connector, generations: generations, presence: kit.presence, metrics: metrics,
            wakeup: laneWakeups.lane(connector.config.id), options: .init(batchSize: options.inboxBatchSize, overlap: options.inboxOverlap),
            worker: options.worker, logger: logger)
    }

    func poller(of connector: any Connector, kit: LaneKit) -> PollerService? {
        guard options.polling, connector.config.poll.enabled else { return nil }
        return PollerService(
            connector: connector, polls: kit.polls, status: kit.status, metrics: metrics,
            inboxWakeup: laneWakeups.lane(connector.config.id), logger: logger, generations: generations)
    }

    /// The relays of a target's writes: one for a CRM; for MasterDeal, whose writes come from every lane,
    /// ``Options/masterDealRelays`` and an express relay that serves only the lanes with at most a round pending:
    /// while one connector bursts, the others' writes are taken by it at once instead of waiting for a relay to
    /// finish a round of the burst's. It is one more, not one of them: a burst keeps all of them (as one of four, a
    /// full run's 500 changes a second outgrew the three left and queued: p50 1.3 s against 0.28 s).
    func relays(of connector: any Connector, kit: LaneKit) -> [OutboxRelay] {
        let quiet: [Int?] =
            connector.config.kind == .masterdeal
            ? Array(repeating: nil, count: max(1, options.masterDealRelays)) + [connector.config.delivery.batchSize] : [nil]
        return quiet.map { quietLanes in
            OutboxRelay(
                connector: connector, generations: generations, claims: kit.claims, presence: kit.presence, status: kit.status,
                metrics: metrics, wakeup: outboxWakeups.lane(connector.config.id),
                options: .init(
                    batchSize: connector.config.delivery.batchSize, lease: options.relayLease,
                    idlePoll: options.relayIdlePoll, pausedProbe: options.pausedProbe,
                    // Each of the feed's events is one decision: never merged with the next.
                    coalesce: connector is DecisionFeedConnector ? 1 : 20, quietLanes: quietLanes),
                worker: options.worker, logger: logger)
        }
    }
}

/// The stores and the presence every lane of a running gateway shares.
struct LaneKit: Sendable {
    let claims: OutboxClaims
    let status: ConnectorStatusStore
    let polls: PollStore
    let presence: Presence
}

/// Shuts the shared HTTP client down when the group stops.
final class ClientShutdown: Service {
    let client: HTTPClient

    init(client: HTTPClient) { self.client = client }

    func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}

/// Flushes the Kafka producers when the group stops: what was sent is acknowledged (or fails) before the
/// process exits.
final class KafkaProducersShutdown: Service {
    let producers: [KafkaProducer]

    init(producers: [KafkaProducer]) { self.producers = producers }

    func run() async throws {
        try? await gracefulShutdown()
        for producer in producers { await producer.close(timeout: .seconds(5)) }
    }
}
