import AsyncHTTPClient
import DealSyncCore
import DealSyncGateway
import DealSyncStore
import DealSyncTestSupport
import Foundation
import NIOHTTP1
import PostgresNIO
import Synchronization
import Testing

/// The gateway while its PostgreSQL is away, on a cluster of the test's own that it crashes and starts again:
/// webhooks and `/readyz` are answered 503 at once instead of hanging, the gateway takes webhooks again as soon as
/// PostgreSQL is back (its pool and its LISTEN connections reconnect), and it stops without waiting for a database
/// that is not there.
@Suite(.serialized)
struct DatabaseOutageTests {
    typealias G = IntakeGateway

    static func amo(_ gateway: IntakeGateway, id: Int) async throws -> (status: Int, seconds: Double) {
        let started = ContinuousClock.now
        let (status, _) = try await HTTPClient.shared.send(
            .POST, gateway.url + "/webhooks/tour/\(SyncSystem.webhookSecret)",
            headers: [G.form, ("X-AmoCRM-RequestId", "outage-\(id)")], body: G.amoBody(id: id))
        return (status, Self.seconds(started.duration(to: .now)))
    }

    static func ready(_ gateway: IntakeGateway) async throws -> (status: Int, seconds: Double) {
        let started = ContinuousClock.now
        let (status, _) = try await HTTPClient.shared.send(.GET, gateway.url + "/readyz")
        return (status, Self.seconds(started.duration(to: .now)))
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// Backends of the gateway's database listening for notifications (the inbox's and the outbox's listeners).
    static func listeners(_ cluster: EmbeddedPostgres, database: String) async throws -> Int {
        try await Database.withDatabase(cluster.url, logger: TestPostgres.logger, maximumConnections: 1) { admin in
            let rows = try await admin.client.query(
                "SELECT count(*)::int FROM pg_stat_activity WHERE datname = \(database) AND query LIKE 'LISTEN%'")
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }

    /// The dedupe keys of the inbox (`request:outage-<id>`).
    static func requestIDs(_ gateway: IntakeGateway) async throws -> Set<String> {
        var keys = Set<String>()
        for try await key in try await gateway.database.client.query("SELECT dedupe_key FROM inbox").decode(String.self) {
            keys.insert(key)
        }
        return keys
    }

    // The limit guards against a hang: the test makes a cluster of its own (initdb), crashes and restarts it, which
    // under a busy suite on a slow disk took 175 s (17 s alone). What it asserts about time is measured inside.
    @Test(.timeLimit(.minutes(4)))
    func answersAtOnceWhileTheDatabaseIsDownAndRecoversAsSoonAsItIsBack() async throws {
        let started = ContinuousClock.now
        let bodyDone = Mutex<ContinuousClock.Instant?>(nil)
        let gatewayDone = Mutex<ContinuousClock.Instant?>(nil)
        defer {
            // Where a slow run's time went: the cluster's set-up, the checks, stopping the gateway, or the cluster.
            let (done, stopped) = (bodyDone.withLock { $0 }, gatewayDone.withLock { $0 })
            print(
                "database outage timing: checks done after \(done.map { Self.seconds(started.duration(to: $0)) } ?? -1) s, "
                    + "gateway stopped after \(stopped.map { Self.seconds(started.duration(to: $0)) } ?? -1) s, "
                    + "everything stopped after \(Self.seconds(started.duration(to: .now))) s")
        }
        // Commits wait for their WAL to be written: the crash must not take back what the gateway was told is
        // committed (without it, the schema's last migration was once lost and `/readyz` said "schema version 5").
        try await TestPostgres.withPrivateCluster(.init(synchronousCommit: true)) { cluster in
            defer { bodyDone.withLock { $0 = $0 ?? .now } }
            defer { gatewayDone.withLock { $0 = .now } }
            try await IntakeGateway.run(in: cluster) { gateway in
                defer { bodyDone.withLock { $0 = .now } }
                let name = gateway.database.url.database
                // Working: a webhook is stored, the gateway is ready, both listeners are connected.
                #expect(try await Self.amo(gateway, id: 1).status == 200)
                #expect(try await Self.ready(gateway).status == 200)
                try await eventually("both listeners are connected") { try await Self.listeners(cluster, database: name) == 2 }

                try await cluster.halted(mode: .immediate)
                let down = ContinuousClock.now
                // Before the gateway has noticed: the writer's deadline (2 s) bounds the answer.
                let first = try await Self.amo(gateway, id: 2)
                #expect(first.status == 503, "a webhook while PostgreSQL is down is refused: \(first)")
                #expect(first.seconds < 5, "and answered within seconds, not after a minute: \(first.seconds) s")
                try await eventually("the gateway knows the database is away", timeout: .seconds(10)) { !gateway.database.isAvailable }
                let noticed = Self.seconds(down.duration(to: .now))
                // Known to be away: answered at once.
                var webhookTimes: [Double] = []
                var readyTimes: [Double] = []
                for id in 3..<13 {
                    let answer = try await Self.amo(gateway, id: id)
                    #expect(answer.status == 503)
                    webhookTimes.append(answer.seconds)
                    let ready = try await Self.ready(gateway)
                    #expect(ready.status == 503)
                    readyTimes.append(ready.seconds)
                }
                #expect(webhookTimes.max()! < 5 && readyTimes.max()! < 5, "webhooks \(webhookTimes), readyz \(readyTimes)")
                // Long enough for PostgresNIO's own reconnection to back off to several seconds between attempts.
                try await Task.sleep(for: .seconds(12))
                #expect(try await Self.amo(gateway, id: 13).status == 503)

                try await cluster.restarted()
                let back = ContinuousClock.now
                let ids = Atomic(100)
                try await eventually("a webhook is stored again", timeout: .seconds(30)) {
                    try await Self.amo(gateway, id: ids.add(1, ordering: .relaxed).newValue).status == 200
                }
                let recovery = Self.seconds(back.duration(to: .now))
                #expect(recovery < 5, "webhooks are stored again within seconds of PostgreSQL's return: \(recovery) s")
                // Readiness follows within a probe of the pool (about a second).
                try await eventually("/readyz answers 200 again", timeout: .seconds(5)) { try await Self.ready(gateway).status == 200 }
                try await eventually("both listeners are connected again", timeout: .seconds(10)) {
                    try await Self.listeners(cluster, database: name) == 2
                }
                let listening = Self.seconds(back.duration(to: .now))
                let keys = try await Self.requestIDs(gateway)
                #expect(
                    keys.isDisjoint(with: (3..<14).map { "request:outage-\($0)" }), "nothing refused while known down was stored: \(keys)")
                print(
                    """
                    database outage figures: first webhook after the crash 503 in \(String(format: "%.2f", first.seconds)) s; \
                    outage noticed after \(String(format: "%.2f", noticed)) s; while known down webhooks 503 in \
                    \(String(format: "%.3f", webhookTimes.max()!)) s at most, /readyz 503 in \(String(format: "%.3f", readyTimes.max()!)) s \
                    at most; stored again \(String(format: "%.2f", recovery)) s after PostgreSQL accepted connections, \
                    listeners back after \(String(format: "%.2f", listening)) s; pool generation \(gateway.database.poolGeneration)
                    """)
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func theGatewayStopsAtOnceWithoutItsDatabase() async throws {
        try await TestPostgres.withPrivateCluster(.init(synchronousCommit: true)) { cluster in
            let stopping = Mutex<ContinuousClock.Instant?>(nil)
            try await IntakeGateway.run(in: cluster) { gateway in
                #expect(try await Self.amo(gateway, id: 1).status == 200, "the gateway ran before the database went away")
                try await cluster.halted(mode: .immediate)
                // Some requests of the gateway's own are waiting for a connection when it is told to stop.
                #expect(try await Self.amo(gateway, id: 2).status == 503)
                try await eventually("the gateway knows the database is away", timeout: .seconds(10)) { !gateway.database.isAvailable }
                stopping.withLock { $0 = .now }
            }
            let took = Self.seconds(stopping.withLock { $0! }.duration(to: .now))
            print(
                "database outage figures: the gateway stopped \(String(format: "%.2f", took)) s after it was told to, without its database")
            #expect(took < 20, "every service stops without waiting for the database: \(took) s")
        }
    }
}
