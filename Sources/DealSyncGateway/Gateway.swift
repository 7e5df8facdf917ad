import AsyncHTTPClient
import DealSyncConnectors
import DealSyncCore
import DealSyncStore
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// The connector host: webhook routes, the intake processor, pollers and outbox relays over one database,
/// as services for one `ServiceGroup` (`dealsync serve`, the demo and the end-to-end tests).
public final class Gateway: Sendable {
    public struct Options: Sendable {
        public var host = "127.0.0.1"
        public var port = 8080
        public var intakeWorkers = 2
        public var bodyLimit = 1 << 20
        /// A connection with no request in progress is closed after this long; it also bounds how long a
        /// request's head may take to arrive (Hummingbird's idle timeout).
        public var idleTimeout: Duration = .seconds(15)
        /// A request's head and body must arrive in full within this long, however slowly they trickle in.
        public var requestReadTimeout: Duration = .seconds(10)
        public var polling = true
        public var statsInterval: Duration = .seconds(5)
        public var relayIdlePoll: Duration = .seconds(1)
        public var relayLease: Duration = .seconds(90)
        public var pausedProbe: Duration = .seconds(30)
        /// Identifies this process in outbox claims: host, pid and a random part, because a restarted container
        /// often gets the same host name and pid, and its predecessor's claims must not look alive.
        public var worker = "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier):\(UUID().uuidString.prefix(8).lowercased())"

        public init() {}
    }

    public let configuration: Configuration
    public let database: Database
    public let options: Options
    public let metrics: GatewayMetrics
    public let registry: ConnectorRegistry
    public let processor: SyncProcessor
    let httpClient: HTTPClient
    let logger: Logger
    let inboxWakeup = Wakeup()
    let outboxWakeup = Wakeup()

    public init(configuration: Configuration, database: Database, options: Options = Options(), logger: Logger,
                metrics: GatewayMetrics = GatewayMetrics()) {
        self.configuration = configuration
        self.database = database
        self.options = options
        self.logger = logger
        self.metrics = metrics
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.timeout = .init(connect: .seconds(5), read: .seconds(60))
        self.httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        let credentials = DatabaseCredentialStore(tokens: TokenStore(database: database, logger: logger))
        self.registry = ConnectorRegistry(configuration: configuration, client: httpClient, credentials: credentials, logger: logger)
        self.processor = SyncProcessor(
            database: database, setup: SyncSetup(configuration: configuration), logger: logger,
            observer: .init(processed: { [metrics] connector, result in metrics.inbox(connector, result: result) },
                            divergence: { [metrics] connector, kind in metrics.divergence(connector, kind: kind.rawValue) }))
        metrics.register(connectors: configuration.connectors.map { ($0.id, $0.kind) })
    }

    /// Releases the HTTP client when the gateway's services were never run (CLI commands).
    public func shutdown() async {
        try? await httpClient.shutdown()
    }

    /// The reconciler of a CRM connector (comparing it with MasterDeal), or `nil` for MasterDeal itself.
    public func reconciler(for id: String, settings: ConnectorConfig.Reconcile? = nil) -> Reconciler? {
        guard let crm = registry.connector(id), crm.config.kind != .masterdeal, let mapping = configuration.mapping(for: crm.config),
            let master = configuration.masterDeal.flatMap({ registry.connector($0.id) })
        else { return nil }
        return Reconciler(crm: crm, master: master, mapping: mapping, processor: processor,
                          links: LinkReader(database: database, logger: logger), drift: DriftStore(database: database, logger: logger),
                          metrics: metrics, logger: logger, settings: settings)
    }

    /// The services to run after the database client, in start order (they stop in reverse).
    public func services(onHTTPRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> [any Service] {
        let inbox = InboxStore(database: database, logger: logger)
        let claims = OutboxClaims(database: database, logger: logger)
        let status = ConnectorStatusStore(database: database, logger: logger)
        let polls = PollStore(database: database, logger: logger)
        var services: [any Service] = [
            ClientShutdown(client: httpClient),
            OutboxNotifications(database: database, wakeup: outboxWakeup, logger: logger),
            StatsService(claims: claims, inbox: inbox, deadLetters: DeadLetterStore(database: database, logger: logger),
                         drift: DriftStore(database: database, logger: logger),
                         metrics: metrics, limiters: registry.all.map { ($0.config.id, $0.limiter) },
                         shared: registry.all.filter { $0.config.kind == .masterdeal }.map { ($0.config.id, $0.limiter) },
                         interval: options.statsInterval, worker: options.worker,
                         logger: logger),
            IntakeService(processor: processor, claims: claims, registry: registry, metrics: metrics, inboxWakeup: inboxWakeup,
                          outboxWakeup: outboxWakeup, workers: options.intakeWorkers, worker: options.worker, logger: logger),
        ]
        for connector in registry.all {
            let relay = OutboxRelay(
                connector: connector, claims: claims, processor: processor, status: status, metrics: metrics, wakeup: outboxWakeup,
                options: .init(batchSize: connector.config.delivery.batchSize, lease: options.relayLease,
                               idlePoll: options.relayIdlePoll, pausedProbe: options.pausedProbe),
                worker: options.worker, logger: logger)
            var lane: [any Service] = []
            if options.polling, connector.config.poll.enabled {
                lane.append(PollerService(connector: connector, polls: polls, status: status, metrics: metrics,
                                          inboxWakeup: inboxWakeup, logger: logger))
            }
            if connector.config.kind == .masterdeal {
                // MasterDeal takes writes from every process; one process polls it.
                services.append(relay)
                if !lane.isEmpty { services.append(ConnectorLease(name: connector.config.id, database: database, services: lane, logger: logger)) }
            } else {
                if connector.config.reconcile.enabled, let reconciler = reconciler(for: connector.config.id) { lane.append(reconciler) }
                services.append(ConnectorLease(name: connector.config.id, database: database, services: lane + [relay], logger: logger))
            }
        }
        let router = Router()
        GatewayRoutes(registry: registry, inbox: inbox, database: database, metrics: metrics, wakeup: inboxWakeup, logger: logger,
                      bodyLimit: options.bodyLimit).register(on: router)
        let readTimeout = TimeAmount(options.requestReadTimeout)
        let app = Application(
            router: router,
            server: .http1(configuration: .init(
                additionalChannelHandlers: [RequestReadDeadline(limit: readTimeout)], idleTimeout: TimeAmount(options.idleTimeout))),
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "dealsync"),
            onServerRunning: { channel in await onHTTPRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
        services.append(app)
        return services
    }
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
