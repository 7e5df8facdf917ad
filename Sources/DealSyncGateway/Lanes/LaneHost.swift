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
///
/// A reload changes the lanes while they run (``remove(_:)``, ``add(_:)``): a removed lane stops here after its
/// in-flight work and is unlocked, and is never taken again; an added one is taken by whichever process's share it
/// falls in.
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

    let database: Database
    let worker: String
    let metrics: GatewayMetrics
    let logger: Logger
    let options: Options
    /// Lanes whose service group ended since the last round, with the error that ended it.
    private let ended = Mutex<[(String, (any Error)?)]>([])
    private let wakeup = Wakeup()
    private let state: Mutex<State>
    /// Set when one session's lock connection closed (a flag per session: a late close of an earlier session's
    /// connection never touches a later one).
    final class Closed: Sendable {
        let flag = Atomic<Bool>(false)
        var isSet: Bool { flag.load(ordering: .relaxed) }
    }

    struct LockConnectionClosed: Error, CustomStringConvertible {
        var description: String { "the connection holding the lane locks closed" }
    }

    /// The lanes this process may run, the ones running here now, and who waits for some to stop.
    struct State {
        var lanes: [Lane]
        var running: Set<String> = []
        var waiters: [(names: Set<String>, continuation: CheckedContinuation<Void, Never>)] = []

        /// Resumes the waiters none of whose lanes runs here any more.
        mutating func resumeStopped() {
            let running = self.running
            waiters.removeAll { waiter in
                guard waiter.names.isDisjoint(with: running) else { return false }
                waiter.continuation.resume()
                return true
            }
        }
    }

    /// The lanes this process may run now.
    public var lanes: [Lane] { state.withLock { $0.lanes } }

    public init(
        lanes: [Lane], database: Database, worker: String, metrics: GatewayMetrics, logger: Logger, options: Options = Options()
    ) {
        self.state = Mutex(State(lanes: lanes))
        self.database = database
        self.worker = worker
        self.metrics = metrics
        self.logger = logger
        self.options = options
        metrics.registerLanes(lanes.map(\.name))
    }

    /// Stops the lanes named `names` in this process after their in-flight work and unlocks them; they are not
    /// taken again. Returns once none of them runs here.
    public func remove(_ names: Set<String>) async {
        guard !names.isEmpty else { return }
        let present = state.withLock { state in
            state.lanes.removeAll { names.contains($0.name) }
            return !state.running.isDisjoint(with: names)
        }
        guard present else { return }
        await withCheckedContinuation { continuation in
            let stopped = state.withLock { state in
                guard !state.running.isDisjoint(with: names) else { return true }
                state.waiters.append((names, continuation))
                return false
            }
            if stopped { continuation.resume() }
            wakeup.signal()
        }
    }

    /// Adds lanes this process may run from now on (a lane of the same name must be removed first).
    public func add(_ lanes: [Lane]) {
        guard !lanes.isEmpty else { return }
        metrics.registerLanes(lanes.map(\.name))
        state.withLock { state in
            let names = Set(lanes.map(\.name))
            state.lanes.removeAll { names.contains($0.name) }
            state.lanes += lanes
        }
        wakeup.signal()
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            guard !lanes.isEmpty else {
                // Nothing to run here (yet): no lock session until a reload adds a lane.
                await wakeup.wait(timeout: options.interval)
                continue
            }
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
        let checkTimeout = options.checkTimeout
        let logger = self.logger
        let closed = Closed()
        try await withDeadline(checkTimeout) { try await LaneLocks.register(worker: self.worker, on: connection, logger: logger) }
        var balance = LaneBalance(orphanRounds: options.orphanRounds)
        var groups: [String: ServiceGroup] = [:]
        var releasing: Set<String> = []
        do {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                // The locks live as long as the connection: once it closes (the server ended the session, the
                // network said so), every lane stops at once rather than at the next round's failed query.
                connection.closeFuture.whenComplete { [wakeup] _ in
                    closed.flag.store(true, ordering: .relaxed)
                    wakeup.signal()
                }
                while !Task.isShuttingDownGracefully && !Task.isCancelled {
                    if closed.isSet { throw LockConnectionClosed() }
                    let current = self.lanes
                    let names = current.map(\.name)
                    for (name, error) in ended.withLock({ e in
                        defer { e.removeAll() }; return e
                    }) {
                        let released = releasing.remove(name) != nil
                        groups[name] = nil
                        try await withDeadline(checkTimeout) { try await LaneLocks.unlock(name, on: connection, logger: logger) }
                        self.stopped(name)
                        let event = !names.contains(name) ? "removed" : released ? "released" : "ended"
                        lane(name, running: false, event: event, error: error)
                    }
                    // Lanes a reload removed stop after their in-flight work, like a lane handed over.
                    for (name, group) in groups where !names.contains(name) && !releasing.contains(name) {
                        releasing.insert(name)
                        logger.info("connector removed: its lane stops after its in-flight work", metadata: ["connector": "\(name)"])
                        await group.triggerGracefulShutdown()
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
                        guard let lane = current.first(where: { $0.name == name }),
                            try await withDeadline(checkTimeout, { try await LaneLocks.tryLock(name, on: connection, logger: logger) })
                        else { continue }
                        taken += 1
                        let group = makeGroup(lane)
                        groups[name] = group
                        state.withLock { _ = $0.running.insert(name) }
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
                if closed.isSet { throw LockConnectionClosed() }
                // Shutting down: every lane stops after its in-flight work, then the locks go.
                for group in groups.values { await group.triggerGracefulShutdown() }
                try await tasks.waitForAll()
                for name in groups.keys { lane(name, running: false, event: "released", error: nil) }
                groups.removeAll()
                stoppedAll()
                try? await withDeadline(checkTimeout) { try await LaneLocks.unlockAll(on: connection, logger: logger) }
            }
        } catch {
            // The locks may be gone with the connection: nothing may run without its lock, so every lane stopped
            // at once (leaving the task group cancelled them). The connection is closed rather than handed back to
            // the pool with locks that might still be held.
            for name in groups.keys { lane(name, running: false, event: "lost", error: error) }
            stoppedAll()
            try? await connection.close()
            throw error
        }
    }

    private func stopped(_ name: String) {
        state.withLock { state in
            state.running.remove(name)
            state.resumeStopped()
        }
    }

    private func stoppedAll() {
        state.withLock { state in
            state.running.removeAll()
            state.resumeStopped()
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
