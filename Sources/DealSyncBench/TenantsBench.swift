import AsyncHTTPClient
import DealSyncCore
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import ServiceLifecycle
import UnixSignals

/// A studio's deployment measured: a hundred amoCRM connectors (one account each, all hosted by one simulator
/// process) and MasterDeal, on PostgreSQL with `fsync` on.
///
/// One `serve`: its startup (ready, then every lane running), its idle CPU and memory with every connector polling
/// at its configured interval, and webhook latency under a steady load spread over the tenants. Then three `serve`
/// processes: how long until no process runs more than 40 lanes, and after one is SIGKILLed with webhooks still
/// coming, how long until the survivors run all of them; at the end every webhook's lead must be one deal in
/// MasterDeal, none twice.
struct TenantsBench {
    let repository: String
    let binaries: String
    let quick: Bool
    let say: @Sendable (String) -> Void

    static let tenants = 100
    static let pollInterval = 10
    static let leadsPerTenant = 20

    struct Figures {
        var ready = 0.0
        var allLanes = 0.0
        var idleCPU = 0.0
        var idleSeconds = 0.0
        var rss = 0.0
        var peakRSS = 0.0
        var polls = 0
        var webhooks = AmoLoad.Answers()
        var spread = 0.0
        var spreadLoads: [Int] = []
        var takeover = 0.0
        var takeoverLoads: [Int] = []
        var deals = 0
        var uniqueDeals = 0
        var expectedDeals = 0
        var deadLetters = 0
    }

    func run() async throws -> Figures {
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let cluster = try await BenchConfig.durableCluster(creating: ["tenants"], maxConnections: 300, logger: logger)
        defer { cluster.stop() }
        let databaseURL = cluster.url.with(database: "tenants")
        let directory = NSTemporaryDirectory() + "dealsync-bench-tenants-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try BenchConfig.write(
            into: directory, repository: repository, masterURL: "http://127.0.0.1:1", amoA: "http://127.0.0.1:1",
            amoB: "http://127.0.0.1:1")
        let sims = try ChildProgram(
            "\(binaries)/dealsync-bench",
            ["tenant-sims", "--config", directory, "--tenants", "\(Self.tenants)", "--leads", "\(Self.leadsPerTenant)"])
        defer { sims.signal(SIGTERM) }
        let ready = try await ServeBench.awaitReady(sims, as: BenchTenantSims.Ready.self)
        try Self.writeConfiguration(into: directory, repository: repository, ready: ready)
        say("simulators (their own process): MasterDeal \(ready.master), \(Self.tenants) amoCRM accounts behind \(ready.amo)")

        let ports = try (0..<3).map { _ in try EmbeddedPostgres.freePort() }
        let gateways = ports.map {
            GatewayProcess(binary: "\(binaries)/dealsync", config: directory, database: databaseURL, port: $0)
        }
        var clientConfiguration = HTTPClient.Configuration(timeout: .init(connect: .seconds(5), read: .seconds(30)))
        clientConfiguration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        let names = ["masterdeal"] + ready.tenants.map(\.id)
        let lanes = names.count

        let measured = try await Database.withDatabase(databaseURL, logger: logger, maximumConnections: 2) { database in
            var figures = Figures()
            let locks = LaneLocks(database: database, logger: logger)
            /// Lanes per gateway, in `gateways` order.
            func loads() async throws -> [Int] {
                let runners = try await locks.runners(of: names)
                return gateways.map { gateway in
                    guard let pid = gateway.pid else { return 0 }
                    return runners.values.count { $0.split(separator: ":").dropLast().last == "\(pid)" }
                }
            }
            func waitFor(_ what: String, limit: Duration = .seconds(180), _ done: ([Int]) -> Bool) async throws -> (Double, [Int]) {
                let started = ContinuousClock.now
                while started.duration(to: .now) < limit {
                    let now = try await loads()
                    if done(now) { return (started.duration(to: .now).seconds, now) }
                    try await Task.sleep(for: .milliseconds(200))
                }
                throw BenchError("\(what) not within \(limit): \(try await loads())")
            }

            // 1. One process: startup, idle, webhooks.
            let started = ContinuousClock.now
            try await gateways[0].start(polling: true)
            figures.ready = started.duration(to: .now).seconds
            (figures.allLanes, _) = try await waitFor("one process running every lane") { $0[0] == lanes }
            figures.allLanes += figures.ready
            say(
                String(
                    format: "  one serve, %d connectors: ready in %.1f s, every lane running in %.1f s", lanes, figures.ready,
                    figures.allLanes))
            // The accounts' leads were made just before the first polls, inside their overlap: the first polls
            // bring them in. Idle is after that: nothing open, and a whole poll interval without a new inbox row.
            let settling = ContinuousClock.now
            var quietSince = ContinuousClock.now
            var seen = -1
            while quietSince.duration(to: .now) < .seconds(Self.pollInterval + 2) {
                let rows = try await Self.count("SELECT count(*)::int8 FROM inbox", database: database, logger: logger)
                let open = try await Self.count(
                    "SELECT (SELECT count(*) FROM outbox WHERE status IN ('pending', 'in_flight')) + (SELECT count(*) FROM inbox WHERE status = 'pending')",
                    database: database, logger: logger)
                if rows != seen || open > 0 { (seen, quietSince) = (rows, .now) }
                guard settling.duration(to: .now) < .seconds(300) else { throw BenchError("the first polls' work did not settle") }
                try await Task.sleep(for: .milliseconds(500))
            }
            say(
                String(
                    format: "  the first polls' import of %d rows settled %.0f s after every lane ran", seen,
                    settling.duration(to: .now).seconds))
            let polledBefore = try await Self.polls(gateway: gateways[0])
            let cpuBefore = gateways[0].cpuSeconds()
            let idleStart = ContinuousClock.now
            // DEALSYNC_BENCH_IDLE=seconds lengthens the idle window (to attach a profiler to the gateway).
            let idle = ProcessInfo.processInfo.environment["DEALSYNC_BENCH_IDLE"].flatMap(Int.init) ?? (quick ? 20 : 60)
            if ProcessInfo.processInfo.environment["DEALSYNC_BENCH_IDLE"] != nil {
                say("  idle window of \(idle) s begins: gateway pid \(gateways[0].pid.map(String.init) ?? "?")")
            }
            try await Task.sleep(for: .seconds(idle))
            figures.idleSeconds = idleStart.duration(to: .now).seconds
            figures.idleCPU = (gateways[0].cpuSeconds() - cpuBefore) / figures.idleSeconds * 100
            figures.polls = try await Self.polls(gateway: gateways[0]) - polledBefore
            figures.rss = gateways[0].currentRSS()
            say(
                String(
                    format:
                        "  idle with every connector polling every %d s: CPU %.1f%% of one core over %.0f s, %d polls done, RSS %.0f MiB",
                    Self.pollInterval, figures.idleCPU, figures.idleSeconds, figures.polls, figures.rss))

            let hook = { (port: Int, tenant: BenchTenantSims.Tenant) in
                "http://127.0.0.1:\(port)/webhooks/\(tenant.id)/\(BenchConfig.values["TOUR_A_WEBHOOK_SECRET"]!)"
            }
            let half = Self.leadsPerTenant / 2
            let firstTargets = (0..<half).flatMap { index in ready.tenants.map { (url: hook(ports[0], $0), lead: $0.leads[index]) } }
            figures.webhooks = try await AmoLoad.send(firstTargets, client: client, rate: 50, connections: 16)
            figures.peakRSS = gateways[0].peakRSS()
            say(
                String(
                    format: "  %d webhooks at 50/s over %d tenants while they poll: p50 %.2f ms, p99 %.2f ms, max %.1f ms; %@",
                    figures.webhooks.count, Self.tenants, figures.webhooks.percentile(0.5), figures.webhooks.percentile(0.99),
                    figures.webhooks.times.max() ?? .nan, "\(figures.webhooks.statuses)"))

            // 2. Three processes share the lanes; one is SIGKILLed while webhooks keep coming.
            let joined = ContinuousClock.now
            try await gateways[1].start(polling: true)
            try await gateways[2].start(polling: true)
            let (spread, spreadLoads) = try await waitFor("an even spread") { $0.reduce(0, +) == lanes && $0.max()! <= 40 }
            figures.spread = spread
            figures.spreadLoads = spreadLoads
            say(
                String(
                    format: "  3 serves: no process above 40 lanes %.1f s after the two were started (%.1f s after both were ready): %@",
                    joined.duration(to: .now).seconds, spread, "\(spreadLoads)"))
            let secondTargets = (half..<Self.leadsPerTenant).flatMap { index in
                ready.tenants.map { (url: hook(ports[0], $0), lead: $0.leads[index]) }
            }
            async let load = AmoLoad.send(secondTargets, client: client, rate: 50, connections: 16)
            try await Task.sleep(for: .seconds(5))
            await gateways[2].kill()
            let (takeover, takeoverLoads) = try await waitFor("the survivors running every lane") {
                $0[0] + $0[1] == lanes && $0[2] == 0
            }
            figures.takeover = takeover
            figures.takeoverLoads = Array(takeoverLoads.prefix(2))
            say(
                String(
                    format: "  after SIGKILL of one: the two survivors run all %d lanes in %.1f s: %@", lanes, takeover,
                    "\(takeoverLoads.prefix(2))"))
            let second = try await load
            say("  webhooks during the kill: \(second.count), statuses \(second.statuses)")

            // 3. Every lead one deal in MasterDeal, none twice.
            figures.expectedDeals = ready.tenants.count * Self.leadsPerTenant
            for _ in 0..<600 {
                let deals = try await Self.deals(master: ready.master, client: client)
                figures.deals = deals.count
                figures.uniqueDeals = Set(deals).count
                if figures.deals >= figures.expectedDeals { break }
                try await Task.sleep(for: .milliseconds(500))
            }
            figures.deadLetters = try await Self.count("SELECT count(*)::int8 FROM dead_letters", database: database, logger: logger)
            if figures.deals < figures.expectedDeals {
                // Where the missing ones are.
                for sql in [
                    "SELECT 'inbox ' || status || ' ' || count(*) FROM inbox GROUP BY status",
                    "SELECT 'outbox ' || (target = 'masterdeal')::text || ' ' || operation || ' ' || status || ' ' || count(*) FROM outbox GROUP BY target = 'masterdeal', operation, status",
                    "SELECT 'links ' || count(*) FROM links",
                    """
                    SELECT 'waiting for MasterDeal: attempts ' || attempts || ', last ' || coalesce(attempt_log->-1->>'error_class', '-')
                        || ' ' || coalesce(attempt_log->-1->>'status', '-') || ', due in ' || round(extract(epoch FROM max(next_attempt_at) - now()))
                        || ' s at most: ' || count(*)
                    FROM outbox WHERE target = 'masterdeal' AND status = 'pending'
                    GROUP BY attempts, attempt_log->-1->>'error_class', attempt_log->-1->>'status'
                    """,
                    """
                    SELECT 'activity ' || coalesce(state, '-') || ' ' || coalesce(wait_event_type, '-') || ' ' || coalesce(wait_event, '-')
                        || ' ' || left(regexp_replace(query, '\\s+', ' ', 'g'), 90) || ': ' || count(*)
                    FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
                    GROUP BY state, wait_event_type, wait_event, left(regexp_replace(query, '\\s+', ' ', 'g'), 90)
                    """,
                    "SELECT 'last attempt ' || left((attempt_log->-1)::text, 300) FROM outbox WHERE target = 'masterdeal' AND attempts > 0 ORDER BY updated_at DESC LIMIT 2",
                    "SELECT 'divergence ' || kind || ' ' || count(*) FROM divergence_log GROUP BY kind",
                ] {
                    let rows = try await database.client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
                    for try await line in rows.decode(String.self) { say("    \(line)") }
                }
            }
            say(
                "  MasterDeal has \(figures.deals) deals (\(figures.uniqueDeals) distinct leads) of \(figures.expectedDeals) leads sent; dead letters: \(figures.deadLetters)"
            )
            if figures.deals < figures.expectedDeals,
                let hold = ProcessInfo.processInfo.environment["DEALSYNC_BENCH_HOLD"].flatMap(Int.init)
            {
                say("  holding for \(hold) s: psql '\(databaseURL.revealedURLString())'")
                try await Task.sleep(for: .seconds(hold))
            }
            for gateway in gateways { try await gateway.stop() }
            return figures
        }
        try? await client.shutdown()
        return measured
    }

    /// Successful polls so far over every connector, from the gateway's `dealsync_polls_total`.
    static func polls(gateway: GatewayProcess) async throws -> Int {
        let samples = try await gateway.metrics().filter { $0.hasPrefix("dealsync_polls_total{") && $0.contains(#"result="ok""#) }
        let values: [Double] = samples.compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }
        return values.reduce(0) { $0 + Int($1) }
    }

    static func count(_ sql: String, database: Database, logger: Logger) async throws -> Int {
        let rows = try await database.client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        for try await value in rows.decode(Int.self) { return value }
        return 0
    }

    /// Each MasterDeal deal as "account lead-id" (from its name, "Bench lead <id>").
    static func deals(master: String, client: HTTPClient) async throws -> [String] {
        var request = HTTPClientRequest(url: "\(master)/_sim/deals")
        request.method = .GET
        let response = try await client.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 1 << 30)
        let items = JSONValue.parse(Data(body.readableBytesView))?["items"]?.array ?? []
        return items.compactMap { item in
            guard let account = item["account_id"]?.string, let name = item["opportunity_name"]?.string else { return nil }
            let words = name.split(separator: " ")
            return words.count >= 3 ? "\(account) \(words[2])" : nil
        }
    }

    /// MasterDeal and one amoCRM connector per tenant, all with the tour agency's mapping and shared credentials
    /// from `dealsync.env` (the simulated accounts accept the same pair, each its own copy).
    static func writeConfiguration(into directory: String, repository: String, ready: BenchTenantSims.Ready) throws {
        try BenchConfig.write(
            into: directory, repository: repository, masterURL: ready.master, amoA: "http://127.0.0.1:1", amoB: "http://127.0.0.1:1")
        for name in ["tour-a", "tour-b"] { try? FileManager.default.removeItem(atPath: "\(directory)/connectors/\(name).yaml") }
        for tenant in ready.tenants {
            try """
            id: \(tenant.id)
            kind: amocrm
            base_url: \(SimulatedAccounts<AmoCRMSimulator>.baseURL(of: tenant.id, on: ready.amo))
            mapping: tour-agency
            master_account: acc-\(tenant.id)
            auth:
              oauth:
                client_id: ${TOUR_A_CLIENT_ID}
                client_secret: ${TOUR_A_CLIENT_SECRET}
                redirect_uri: https://dealsync.example/oauth/amocrm
                refresh_token: ${TOUR_A_REFRESH_TOKEN}
            webhook:
              secret: ${TOUR_A_WEBHOOK_SECRET}
            poll: {interval: \(pollInterval)s}
            rate_limit: {requests_per_second: 7}
            """.write(toFile: "\(directory)/connectors/\(tenant.id).yaml", atomically: true, encoding: .utf8)
        }
    }
}

/// `dealsync-bench tenant-sims`: MasterDeal and many amoCRM accounts in one process of their own, each account with
/// leads made beforehand. Prints one line of JSON with the URLs and lead ids, then runs until SIGTERM.
enum BenchTenantSims {
    struct Tenant: Codable, Sendable {
        var id: String
        var leads: [Int]
    }

    struct Ready: Codable, Sendable {
        var master: String
        var amo: String
        var tenants: [Tenant]
    }

    static func run(arguments: [String]) async throws {
        let option = { (name: String) in BenchSims.option(name, in: arguments) }
        guard let directory = option("config"), let count = option("tenants").flatMap(Int.init) else {
            throw BenchError("usage: dealsync-bench tenant-sims --config DIR --tenants N [--leads N]")
        }
        let environment = BenchConfig.environment(directory: directory)
        let mapping = try BenchConfig.mapping(directory: directory, environment: environment)
        var master = MasterDealSimulator.Configuration()
        master.tokens = [environment["MASTERDEAL_TOKEN"] ?? "": "dealsync"]
        let masterDeal = MasterDealSimulator(configuration: master)
        let ids = (1...count).map { String(format: "tenant-%03d", $0) }
        let accounts = try SimulatedAccounts(
            amoCRM: ids.map { id in
                var configuration = BenchSims.amoConfiguration(mapping: mapping, prefix: "TOUR_A", environment: environment)
                configuration.subdomain = id
                return configuration
            })
        let leads = option("leads").flatMap(Int.init) ?? 20
        let tenants = try ids.map { id in Tenant(id: id, leads: try BenchSims.makeLeads(accounts[id]!, count: leads)) }
        let quiet = Logger(label: "bench-tenant-sims", factory: { _ in SwiftLogNoOpLogHandler() })
        try await masterDeal.withRunning { masterURL in
            try await accounts.withRunning { amoURL in
                print(String(decoding: try JSONEncoder().encode(Ready(master: masterURL, amo: amoURL, tenants: tenants)), as: UTF8.self))
                fflush(nil)
                let group = ServiceGroup(services: [BenchSims.Forever()], gracefulShutdownSignals: [.sigterm, .sigint], logger: quiet)
                try await group.run()
            }
        }
    }
}
