import DealSyncCore
import DealSyncStore
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Runs this process's share of the connector lanes (a CRM's inbox lane, poller, reconciler and writes; MasterDeal's
/// poller), spread over every `serve` process present on the database.
///
/// One connection holds every lane lock of the process (``LaneLocks``). Each round (``Options/interval``) the host
/// looks at who holds what, asks ``LaneBalance`` what to let go of and what to take, stops a released lane after
/// its in-flight work (each lane is a service group of its own, shut down gracefully) and only then unlocks it.
/// Losing the connection loses every lock, so every lane here is stopped at once and the host starts again.
public final class LaneHost: Service {
    /// One connector's lane: the services that run together, in one process at a time.
    public struct Lane: Sendable {
        public var name: String
        public var services: [any Service]

        public init(name: String, services: [any Service]) {
            self.name = name
            self.services = services
        }
    }

    public typealias Options = LaneOptions

    let lanes: [Lane]
    let database: Database
    let worker: String
    let metrics: GatewayMetrics
    let logger: Logger
    let options: Options
    /// Lanes whose service group ended since the last round, with the error that ended it.
    private let ended = Mutex<[(String, (any Error)?)]>([])
    private let wakeup = Wakeup()

    public init(
        lanes: [Lane], database: Database, worker: String, metrics: GatewayMetrics, logger: Logger, options: Options = Options()
    ) {
        self.lanes = lanes
        self.database = database
        self.worker = worker
        self.metrics = metrics
        self.logger = logger
        self.options = options
        metrics.registerLanes(lanes.map(\.name))
    }

    public func run() async throws {
        guard !lanes.isEmpty else { return }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await database.client.withConnection { connection in
                    try await self.host(on: connection)
                }
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                logger.warning(
                    "lane host lost its database session; its lanes stopped",
                    metadata: ["error": "\(String(describing: error).prefix(200))"])
            }
            await pause(options.interval)
        }
    }

    private func host(on connection: PostgresConnection) async throws {
        let names = lanes.map(\.name)
        let checkTimeout = options.checkTimeout
        let logger = self.logger
        try await withDeadline(checkTimeout) { try await LaneLocks.register(worker: self.worker, on: connection, logger: logger) }
        var balance = LaneBalance(orphanRounds: options.orphanRounds)
        var groups: [String: ServiceGroup] = [:]
        var releasing: Set<String> = []
        do {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                while !Task.isShuttingDownGracefully && !Task.isCancelled {
                    for (name, error) in ended.withLock({ e in
                        defer { e.removeAll() }; return e
                    }) {
                        let released = releasing.remove(name) != nil
                        groups[name] = nil
                        try await withDeadline(checkTimeout) { try await LaneLocks.unlock(name, on: connection, logger: logger) }
                        lane(name, running: false, event: released ? "released" : "ended", error: error)
                    }
                    let sighting = try await withDeadline(checkTimeout) {
                        try await LaneLocks.sight(lanes: names, on: connection, logger: logger)
                    }
                    let plan = balance.plan(
                        .init(
                            worker: worker, lanes: names, held: Set(groups.keys).subtracting(releasing), releasing: releasing,
                            heldElsewhere: sighting.heldElsewhere, otherLoads: sighting.otherLoads))
                    for name in plan.release where !releasing.contains(name) {
                        guard let group = groups[name] else { continue }
                        releasing.insert(name)
                        logger.info("connector lane handed over: stopping after its in-flight work", metadata: ["connector": "\(name)"])
                        await group.triggerGracefulShutdown()
                    }
                    var taken = 0
                    for name in plan.acquire where taken < plan.acquireLimit {
                        guard let lane = lanes.first(where: { $0.name == name }),
                            try await withDeadline(checkTimeout, { try await LaneLocks.tryLock(name, on: connection, logger: logger) })
                        else { continue }
                        taken += 1
                        let group = makeGroup(lane)
                        groups[name] = group
                        tasks.addTask {
                            do {
                                try await group.run()
                                self.end(name, nil)
                            } catch {
                                self.end(name, error)
                            }
                        }
                        self.lane(name, running: true, event: "acquired", error: nil)
                    }
                    metrics.lanes(running: groups.count - releasing.count, hosts: max(1, sighting.hosts.count))
                    await wakeup.wait(timeout: options.interval)
                }
                // Shutting down: every lane stops after its in-flight work, then the locks go.
                for group in groups.values { await group.triggerGracefulShutdown() }
                try await tasks.waitForAll()
                for name in groups.keys { lane(name, running: false, event: "released", error: nil) }
                groups.removeAll()
                try? await withDeadline(checkTimeout) { try await LaneLocks.unlockAll(on: connection, logger: logger) }
            }
        } catch {
            // The locks may be gone with the connection: nothing may run without its lock, so every lane stopped
            // at once (leaving the task group cancelled them). The connection is closed rather than handed back to
            // the pool with locks that might still be held.
            for name in groups.keys { lane(name, running: false, event: "lost", error: error) }
            try? await connection.close()
            throw error
        }
    }

    private func makeGroup(_ lane: Lane) -> ServiceGroup {
        var configuration = ServiceGroupConfiguration(
            services: lane.services.map {
                // A service that ends (a disabled reconciler) leaves the others running; a failure ends the lane,
                // which the host unlocks and may take again next round.
                .init(service: $0, successTerminationBehavior: .ignore, failureTerminationBehavior: .gracefullyShutdownGroup)
            },
            logger: logger)
        configuration.maximumGracefulShutdownDuration = options.stopGrace
        // No maximumCancellationDuration: ServiceLifecycle ends the whole process (fatalError) when it is
        // exceeded; a lane that is slow to cancel is waited for (the process's own shutdown bounds it).
        return ServiceGroup(configuration: configuration)
    }

    private func end(_ name: String, _ error: (any Error)?) {
        ended.withLock { $0.append((name, error)) }
        wakeup.signal()
    }

    private func lane(_ name: String, running: Bool, event: String, error: (any Error)?) {
        metrics.lane(name, running: running, event: event)
        var metadata: Logger.Metadata = ["connector": "\(name)", "worker": "\(worker)", "event": "\(event)"]
        if let error { metadata["error"] = "\(String(describing: error).prefix(200))" }
        if error != nil && event != "lost" {
            logger.warning("connector lane interrupted", metadata: metadata)
        } else {
            logger.info(running ? "connector lane started here" : "connector lane stopped here", metadata: metadata)
        }
    }
}

/// How connector lanes spread over the `serve` processes present (``LaneHost``).
public struct LaneOptions: Sendable {
    /// How often the host looks at the spread of lanes (a joined or dead process is noticed within this).
    public var interval: Duration = .seconds(2)
    /// How long the lock connection may take to answer (and to unlock) before it counts as lost.
    public var checkTimeout: Duration = .seconds(5)
    /// How long a released lane's in-flight work may take before it is cancelled.
    public var stopGrace: Duration = .seconds(10)
    /// Rounds a lane may stay unheld before a process at its share takes it anyway.
    public var orphanRounds = 3

    public init() {}
}
