import DealSyncGateway
import DealSyncStore
import DealSyncTestSupport
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization
import Testing

/// Lane hosts on one real PostgreSQL, each with a database client of its own as separate processes have: the
/// lanes spread evenly, move when a host joins or leaves, come back when a host's lock connection is killed,
/// and a lane never runs in two hosts at once while they hand lanes over.
@Suite(.timeLimit(.minutes(2)))
struct LaneHostTests {
    static let lanes = (1...9).map { "tenant-\($0)" }

    /// Which host runs which lane, and whether a lane ever ran twice at once.
    final class Runs: Sendable {
        private let state = Mutex<(running: [String: Set<String>], overlaps: [String], starts: [String: Int])>(([:], [], [:]))

        func start(_ lane: String, in host: String) {
            state.withLock { state in
                if let others = state.running[lane], !others.isEmpty { state.overlaps.append("\(lane) in \(others) and \(host)") }
                state.running[lane, default: []].insert(host)
                state.starts[lane, default: 0] += 1
            }
        }

        /// How often `lane` was started, anywhere.
        func starts(_ lane: String) -> Int { state.withLock { $0.starts[lane] ?? 0 } }

        func isRunning(_ lane: String) -> Bool { state.withLock { !($0.running[lane] ?? []).isEmpty } }

        func stop(_ lane: String, in host: String) {
            state.withLock { _ = $0.running[lane]?.remove(host) }
        }

        var overlaps: [String] { state.withLock { $0.overlaps } }

        /// Lanes running per host.
        func loads(_ hosts: [String]) -> [Int] {
            state.withLock { state in hosts.map { host in state.running.values.count { $0.contains(host) } } }
        }

        var runningLanes: Int { state.withLock { $0.running.values.count { !$0.isEmpty } } }
    }

    /// A lane's stand-in: marks itself running until shut down, taking longer to stop (in-flight work) than a host takes to look again.
    struct StandInLane: Service {
        let lane: String
        let host: String
        let runs: Runs

        func run() async throws {
            runs.start(lane, in: host)
            try? await gracefulShutdown()
            try? await Task.sleep(for: .milliseconds(400))
            runs.stop(lane, in: host)
        }
    }

    /// Runs a lane host named `name` on a client of its own until the returned task is cancelled.
    static func startHost(
        _ name: String, url: DatabaseURL, runs: Runs, metrics: GatewayMetrics = GatewayMetrics(), interval: Duration = .milliseconds(100)
    ) -> Task<Void, Never> {
        var options = LaneOptions()
        options.interval = interval
        options.stopGrace = .seconds(5)
        return Task { [options] in
            try? await Database.withDatabase(url, logger: TestPostgres.logger, maximumConnections: 3) { database in
                let host = LaneHost(
                    lanes: lanes.map { lane in .init(name: lane, services: [StandInLane(lane: lane, host: name, runs: runs)]) },
                    database: database, worker: name, metrics: metrics, logger: TestPostgres.logger, options: options)
                let group = ServiceGroup(services: [host], logger: TestPostgres.logger)
                try await withTaskCancellationHandler {
                    try await group.run()
                } onCancel: {
                    Task { await group.triggerGracefulShutdown() }
                }
            }
        }
    }

    /// The server ends `host`'s lock session, as a restarted PostgreSQL or an administrator would; returns how many
    /// sessions it ended.
    static func endLockSession(of host: String, url: DatabaseURL) async throws -> Int {
        try await Database.withDatabase(url, logger: TestPostgres.logger, maximumConnections: 1) { database in
            let rows = try await database.client.query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = \("dealsync lanes " + host) AND datname = current_database()"
            )
            var count = 0
            for try await done in rows.decode(Bool.self) where done { count += 1 }
            return count
        }
    }

    @Test func lanesSpreadEvenlyAndMoveWhenHostsJoinAndLeave() async throws {
        let url = try await TestPostgres.freshDatabaseURL()
        let runs = Runs()
        let a = Self.startHost("host-a", url: url, runs: runs)
        defer { a.cancel() }
        try await eventually("the only host runs every lane", timeout: .seconds(30)) { runs.loads(["host-a"]) == [9] }

        let b = Self.startHost("host-b", url: url, runs: runs)
        defer { b.cancel() }
        let c = Self.startHost("host-c", url: url, runs: runs)
        try await eventually("three hosts run three lanes each", timeout: .seconds(30)) {
            runs.loads(["host-a", "host-b", "host-c"]) == [3, 3, 3]
        }

        c.cancel()
        await c.value
        try await eventually("the two left run all nine, at most five each", timeout: .seconds(30)) {
            let loads = runs.loads(["host-a", "host-b"])
            return loads.reduce(0, +) == 9 && loads.max()! <= 5
        }
        #expect(runs.loads(["host-c"]) == [0])
        #expect(runs.overlaps.isEmpty, "a lane ran in two hosts at once: \(runs.overlaps)")
    }

    @Test func aHostWhoseLockConnectionIsKilledStopsItsLanesAndTheyRunAgain() async throws {
        let url = try await TestPostgres.freshDatabaseURL()
        let runs = Runs()
        let metricsB = GatewayMetrics()
        let a = Self.startHost("host-a", url: url, runs: runs)
        defer { a.cancel() }
        let b = Self.startHost("host-b", url: url, runs: runs, metrics: metricsB)
        defer { b.cancel() }
        try await eventually("two hosts share the lanes", timeout: .seconds(30)) {
            let loads = runs.loads(["host-a", "host-b"])
            return loads.reduce(0, +) == 9 && loads.min()! >= 4
        }
        // The server ends host-b's lock session, as a network cut or a restarted PostgreSQL would.
        #expect(try await Self.endLockSession(of: "host-b", url: url) == 1)
        try await eventually("host-b noticed the loss", timeout: .seconds(30)) {
            metricsB.exposition().contains("dealsync_lane_changes_total{event=\"lost\"} ")
                && !metricsB.exposition().contains(
                    "dealsync_lane_changes_total{event=\"lost\"} 0")
        }
        try await eventually("every lane runs again, spread over both hosts", timeout: .seconds(30)) {
            let loads = runs.loads(["host-a", "host-b"])
            return runs.runningLanes == 9 && loads.reduce(0, +) == 9 && loads.max()! <= 5
        }
    }

    /// A reload removes a lane and adds others while the host runs: the removed lane stops after its in-flight
    /// work before `remove` returns, is unlocked and never started again; an added lane starts.
    @Test func aReloadRemovesAndAddsLanesWhileTheHostRuns() async throws {
        let url = try await TestPostgres.freshDatabaseURL()
        let runs = Runs()
        var options = LaneOptions()
        options.interval = .milliseconds(100)
        let lane: @Sendable (String) -> LaneHost.Lane = { name in
            .init(name: name, services: [StandInLane(lane: name, host: "host-a", runs: runs)])
        }
        try await Database.withDatabase(url, logger: TestPostgres.logger, maximumConnections: 3) { [options] database in
            let host = LaneHost(
                lanes: ["tenant-1", "tenant-2", "tenant-3"].map(lane), database: database, worker: "host-a", metrics: GatewayMetrics(),
                logger: TestPostgres.logger, options: options)
            let group = ServiceGroup(services: [host], logger: TestPostgres.logger)
            async let running: Void = group.run()
            try await eventually("the three lanes run", timeout: .seconds(30)) { runs.runningLanes == 3 }

            await host.remove(["tenant-2"])
            #expect(!runs.isRunning("tenant-2"), "remove returns only once the lane's in-flight work has ended")
            #expect(runs.isRunning("tenant-1") && runs.isRunning("tenant-3"))
            try await eventually("its lock is released", timeout: .seconds(10)) {
                try await database.client.withConnection { connection in
                    try await !LaneLocks.sight(lanes: ["tenant-2"], on: connection, logger: TestPostgres.logger).heldElsewhere
                        .contains("tenant-2")
                }
            }

            host.add([lane("tenant-4")])
            try await eventually("the added lane runs", timeout: .seconds(30)) { runs.isRunning("tenant-4") }
            #expect(runs.starts("tenant-2") == 1, "a removed lane is not taken again")
            #expect(!runs.isRunning("tenant-2"))

            host.add([lane("tenant-2")])
            try await eventually("a lane added back runs again", timeout: .seconds(30)) { runs.isRunning("tenant-2") }
            #expect(runs.starts("tenant-2") == 2)
            #expect(runs.overlaps.isEmpty, "\(runs.overlaps)")
            await group.triggerGracefulShutdown()
            try await running
        }
    }

    /// A host notices at once that its lock connection closed, not at its next look: with a round every 30 s, its
    /// lanes still stop within seconds of the server ending the session. And the lock session asks the server to
    /// probe it (TCP keepalives), so a process cut off without a word loses its locks within seconds, not hours.
    @Test func aClosedLockConnectionStopsTheLanesAtOnce() async throws {
        let url = try await TestPostgres.freshDatabaseURL()
        let runs = Runs()
        let metrics = GatewayMetrics()
        let a = Self.startHost("host-a", url: url, runs: runs, metrics: metrics, interval: .seconds(30))
        defer { a.cancel() }
        try await eventually("the host runs every lane", timeout: .seconds(30)) { runs.loads(["host-a"]) == [9] }
        #expect(try await Self.endLockSession(of: "host-a", url: url) == 1)
        try await eventually("the lanes stopped long before the next 30 s look", timeout: .seconds(10)) {
            runs.loads(["host-a"]) == [0] && metrics.exposition().contains(#"dealsync_lane_changes_total{event="lost"} 9"#)
        }
    }

    @Test func theLockSessionAsksTheServerForKeepalives() async throws {
        let url = try await TestPostgres.freshDatabaseURL()
        try await Database.withDatabase(url, logger: TestPostgres.logger, maximumConnections: 1) { database in
            try await database.client.withConnection { connection in
                try await LaneLocks.register(worker: "host-k", on: connection, logger: TestPostgres.logger)
                let rows = try await connection.query(
                    "SELECT current_setting('tcp_keepalives_idle') || '/' || current_setting('tcp_keepalives_interval') || '/' || current_setting('tcp_keepalives_count')",
                    logger: TestPostgres.logger)
                var values: [String] = []
                for try await text in rows.decode(String.self) { values.append(text) }
                #expect(values == ["10/5/3"])
            }
        }
    }
}
