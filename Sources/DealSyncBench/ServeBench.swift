import AsyncHTTPClient
import DealSyncCore
import DealSyncStore
import DealSyncTestSupport
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO

/// The pipeline benchmark: PostgreSQL with `fsync` on, `dealsync serve` as its own process, the simulators as
/// another and the load from this one (and from `wrk` and `pgbench`), every figure measured side by side in one
/// run.
struct ServeBench {
    let repository: String
    let binaries: String
    let quick: Bool
    let say: @Sendable (String) -> Void

    /// Every figure of a run.
    struct Figures {
        var ceiling = LoadTools.WrkResult()
        var naiveTPS = 0.0
        var ingest = LoadTools.WrkResult()
        var drains: [(backlog: Int, perSecond: Double)] = []
        var light = Freshness()
        var freshness = Freshness()
        var isolation = Freshness()
        var burst = 0.0
        var peakRSS = 0.0
        var tracing: [TracingCost] = []
        /// Each drain's and freshness step's cost per change.
        var costs: [(step: String, cost: StepCost)] = []
    }

    /// Ingest and drain with traces off and on (OTLP/HTTP to a sink in the benchmark's process).
    struct TracingCost {
        var traced: Bool
        var ingest = LoadTools.WrkResult()
        var drain = 0.0
        var exportRequests = 0
    }

    struct Freshness {
        var p50 = Double.nan, p99 = Double.nan, max = Double.nan
        var count = 0
        var expected = 0
        var answersOK = true
        /// When MasterDeal created each lead's deal (unix milliseconds), by the lead's id.
        var created: [Int: Double] = [:]
        /// When each lead's webhook was sent (unix milliseconds).
        var sent: [Int: Int64] = [:]
    }

    func run() async throws -> Figures {
        var figures = Figures()
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let cluster = try await BenchConfig.durableCluster(creating: ["dealsync", "naive"], logger: logger)
        defer { cluster.stop() }
        let databaseURL = cluster.url.with(database: "dealsync")
        // The shared buffers as the server took them (`DEALSYNC_BENCH_PG_SETTINGS` compares sizes run against run).
        let buffers = try await Database.withDatabase(cluster.url.with(database: "naive"), logger: logger) { naive in
            _ = try await naive.client.query(PostgresQuery(unsafeSQL: LoadTools.naiveTable), logger: logger)
            for try await value in try await naive.client.query("SHOW shared_buffers", logger: logger).decode(String.self) {
                return value
            }
            return "?"
        }
        say(
            "PostgreSQL \(cluster.url.host):\(cluster.url.port) with fsync, synchronous_commit and full_page_writes on, shared_buffers \(buffers)"
        )

        let directory = NSTemporaryDirectory() + "dealsync-bench-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try BenchConfig.write(
            into: directory, repository: repository, masterURL: "http://127.0.0.1:1", amoA: "http://127.0.0.1:1",
            amoB: "http://127.0.0.1:1")
        let gatewayPort = try EmbeddedPostgres.freePort()
        let plan = Plan(quick: quick)
        let sims = try ChildProgram(
            "\(binaries)/dealsync-bench",
            [
                "sims", "--config", directory, "--gateway-port", "\(gatewayPort)", "--leads-a", "\(plan.leadsA)", "--leads-b",
                "\(plan.leadsB)",
            ])
        defer { sims.signal(SIGTERM) }
        let ready = try await Self.awaitReady(sims)
        try BenchConfig.write(into: directory, repository: repository, masterURL: ready.master, amoA: ready.amoA, amoB: ready.amoB)
        say(
            "simulators (their own process): MasterDeal \(ready.master), amoCRM A \(ready.amoA) (\(ready.leadsA.count) leads), B \(ready.amoB) (\(ready.leadsB.count) leads)"
        )

        let gateway = GatewayProcess(binary: "\(binaries)/dealsync", config: directory, database: databaseURL, port: gatewayPort)
        // As many connections as the load's senders (32; the client's default is 8, and a sender must not wait
        // for another's connection: that would be the load's latency, not the gateway's).
        var clientConfiguration = HTTPClient.Configuration(timeout: .init(connect: .seconds(5), read: .seconds(30)))
        clientConfiguration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        let measured = try await Database.withDatabase(databaseURL, logger: logger) { database in
            let figures = try await measure(
                gateway: gateway, database: database, client: client, ready: ready, plan: plan, cluster: cluster,
                directory: directory, logger: logger)
            // The simulated accounts hold what the load announces: drift here is the gateway's doing.
            let drift = try await TenantsBench.count(
                "SELECT count(*)::int8 FROM divergence_log WHERE kind = 'drift'", database: database, logger: logger)
            say("drift the reconciler found over the run: \(drift) field\(drift == 1 ? "" : "s")")
            return figures
        }
        try? await client.shutdown()
        figures = measured
        say(String(format: "gateway peak RSS (VmHWM of the serve processes): %.0f MiB", figures.peakRSS))
        return figures
    }

    private func measure(
        gateway: GatewayProcess, database: Database, client: HTTPClient, ready: BenchSims.Ready, plan: Plan,
        cluster: EmbeddedPostgres, directory: String, logger: Logger
    ) async throws -> Figures {
        var figures = Figures()
        let phases = Self.phases
        /// The counters now, after a pause that lets PostgreSQL's backends publish what they counted.
        func cost() async throws -> StepCost {
            try await Task.sleep(for: .milliseconds(1500))
            return try await StepCost.sample(gateway: gateway, cluster: cluster, database: database, logger: logger)
        }
        let hookA = "\(gateway.url)/webhooks/tour-a/\(BenchConfig.values["TOUR_A_WEBHOOK_SECRET"]!)"
        let hookB = "\(gateway.url)/webhooks/tour-b/\(BenchConfig.values["TOUR_B_WEBHOOK_SECRET"]!)"
        var leadsA = ready.leadsA[...]
        func takeA(_ count: Int) -> [Int] {
            defer { leadsA = leadsA.dropFirst(count) }
            return Array(leadsA.prefix(count))
        }
        // 1. The ceilings: HTTP on the same gateway process, and the naive per-request durable insert.
        if phases.contains("ingest") {
            try await gateway.start()
            figures.ceiling = try await LoadTools.wrk("\(gateway.url)/healthz", seconds: plan.seconds)
            say(
                String(
                    format: "HTTP ceiling (GET /healthz, wrk 32 connections): %.0f req/s, p50 %.2f ms, p99 %.2f ms",
                    figures.ceiling.requestsPerSecond, figures.ceiling.p50, figures.ceiling.p99))
            figures.peakRSS = max(figures.peakRSS, gateway.peakRSS())
            try await gateway.stop()
            figures.naiveTPS = try await LoadTools.naiveInsert(
                host: cluster.url.host, port: cluster.url.port, user: cluster.url.user,
                database: "naive", seconds: plan.seconds)
            say(
                String(
                    format: "naive durable ingest (pgbench, one INSERT per committed transaction, 32 clients): %.0f tx/s", figures.naiveTPS)
            )

            // 2. Webhook ingest: 2xx after the group commit holding the row; nothing processed meanwhile.
            try await gateway.start(intakeOnly: true)
            let script = directory + "/ingest.lua"
            try LoadTools.amoScript(firstID: 900_000_000).write(toFile: script, atomically: true, encoding: .utf8)
            let before = try await cost()
            figures.ingest = try await LoadTools.wrk(hookA, seconds: plan.seconds, script: script)
            let spent = try await cost().since(before, changes: figures.ingest.requests)
            figures.peakRSS = max(figures.peakRSS, gateway.peakRSS())
            try await gateway.stop()
            say(
                String(
                    format:
                        "webhook ingest (wrk 32 connections, a new lead per request): %.0f req/s (%.2f× naive), p50 %.2f ms, p99 %.2f ms, %d answers, %d not 2xx, %d socket errors",
                    figures.ingest.requestsPerSecond, figures.ingest.requestsPerSecond / figures.naiveTPS, figures.ingest.p50,
                    figures.ingest.p99, figures.ingest.requests, figures.ingest.non2xx, figures.ingest.socketErrors))
            // Whether a change made intake cheaper shows here first: the rate follows how the cores are shared.
            say(
                String(
                    format: "  cost per webhook: serve %.0f µs of CPU, PostgreSQL %.0f µs of CPU, %.1f webhooks a commit",
                    spent.serveCPU * 1e6, spent.databaseCPU * 1e6, 1 / max(spent.commits, 1e-9)))
            _ = try await database.client.query("TRUNCATE inbox CASCADE", logger: logger)
        }

        // 3. Drain: a backlog stored by an intake-only gateway, then decided by a full one.
        for backlog in plan.backlogs where phases.contains("drain") {
            try await gateway.start(intakeOnly: true)
            var fill = try await AmoLoad(url: hookA, client: client).send(leads: takeA(backlog))
            // Filling is set-up, not a measurement: a webhook refused with 503 (its commit outlived the 2 s
            // deadline) is sent again, as a sender that retries would, and counted.
            var resent = 0
            for _ in 0..<5 where !fill.refused.isEmpty {
                resent += fill.refused.count
                fill = try await AmoLoad(url: hookA, client: client).send(leads: fill.refused)
            }
            figures.peakRSS = max(figures.peakRSS, gateway.peakRSS())
            try await gateway.stop()
            guard fill.refused.isEmpty else { throw BenchError("filling the backlog: \(fill.statuses)") }
            if resent > 0 { say("  (filling the \(backlog)-row backlog: \(resent) webhooks answered 503 were sent again)") }
            let lastRow = try await Self.lastInboxRow(database: database, logger: logger)
            let before = try await cost()
            try await gateway.start()
            let rate = try await Self.drain(backlog, lastRow: lastRow, database: database, logger: logger)
            let decided = ContinuousClock.now
            figures.drains.append((backlog, rate))
            say(String(format: "drain of a %d-row backlog (decode, map, decide, commit): %.0f observations/s", backlog, rate))
            // What the drain caused goes on after it (amoCRM's link-field writes at its 7 requests a second, and
            // their echoes): the next step starts once it is done, so that it measures itself, not this tail.
            try await Self.settle(database: database, logger: logger)
            say(
                String(
                    format: "  every write and echo the %d-row drain caused was done %.1f s after its last decision", backlog,
                    decided.duration(to: .now).seconds - 1))
            let after = try await cost()
            figures.costs.append(("drain \(backlog)", after.since(before, changes: backlog)))
            say("  cost per change: " + figures.costs[figures.costs.count - 1].cost.line + " (everything the drain caused, until done)")
            if GatewayProcess.logDirectory != nil {
                say("  PostgreSQL's time by statement (execution, and planning when tracked):")
                for line in after.topStatements(since: before, changes: backlog) { say("    " + line) }
                try await describeWork(database: database, gateway: gateway, client: client, logger: logger)
            }
            figures.peakRSS = max(figures.peakRSS, gateway.peakRSS())
            try await gateway.stop()
        }

        // 4. Freshness at a steady rate, and connector B's while connector A takes a burst.
        // 4. Tracing's cost: the same ingest and drain with traces exported and without, in this run.
        if phases.contains("tracing") {
            figures.tracing = try await tracingCost(
                gateway: gateway, database: database, client: client, hook: hookA, leads: takeA(3 * plan.tracingBacklog), plan: plan,
                directory: directory, logger: logger)
        }

        guard phases.contains("freshness") else { return figures }
        try await gateway.start()
        // First at a light load, to show what one change costs when nothing queues; then at the target's rate.
        for (rate, light) in [(plan.lightRate, true), (plan.steadyRate, false)] {
            let firstRow = try await Self.lastInboxRow(database: database, logger: logger)
            let before = try await cost()
            let sent = try await AmoLoad(url: hookA, client: client).send(leads: takeA(rate * plan.seconds), rate: Double(rate))
            let measured = try await Self.freshness(of: sent, account: "acc-a", master: ready.master, client: client)
            if light { figures.light = measured } else { figures.freshness = measured }
            say(
                String(
                    format:
                        "freshness at %d changes/s (webhook sent → MasterDeal write seen by the simulator): p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d of %d)",
                    rate, measured.p50, measured.p99, measured.max, measured.count, measured.expected))
            say(try await Self.stages(after: firstRow, connector: "tour-a", freshness: measured, database: database, logger: logger))
            // What the step caused goes on after its deals are made (amoCRM's link-field writes, the echoes): its cost
            // is counted until all of it is done, and the next step starts after that.
            try await Self.settle(database: database, logger: logger)
            let after = try await cost()
            figures.costs.append(("freshness \(rate)/s", after.since(before, changes: sent.sent.count)))
            say("  cost per change: " + figures.costs[figures.costs.count - 1].cost.line + " (everything the step caused, until done)")
            if GatewayProcess.logDirectory != nil {
                say("  PostgreSQL's time by statement (execution, and planning when tracked):")
                for line in after.topStatements(since: before, changes: sent.sent.count) { say("    " + line) }
                try await describeWork(database: database, gateway: gateway, client: client, logger: logger)
            }
        }
        let burstStart = try await Self.lastInboxRow(database: database, logger: logger)
        let beforeBurst = try await cost()
        let burstLeads = takeA(plan.burst)
        async let burst = AmoLoad(url: hookA, client: client).send(leads: burstLeads)
        let started = ContinuousClock.now
        let trickle = try await AmoLoad(url: hookB, client: client).send(
            leads: Array(ready.leadsB.prefix(plan.trickleRate * plan.seconds)), rate: Double(plan.trickleRate), connections: 4)
        let burstAnswers = try await burst
        figures.burst = Double(burstAnswers.count) / burstAnswers.seconds
        figures.isolation = try await Self.freshness(of: trickle, account: "acc-b", master: ready.master, client: client)
        say(
            String(
                format:
                    "isolation: connector B at %d changes/s while A takes a %d-lead burst (%.0f webhooks/s, answered in %.1f s): B's freshness p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d of %d)",
                plan.trickleRate, plan.burst, figures.burst, started.duration(to: .now).seconds, figures.isolation.p50,
                figures.isolation.p99, figures.isolation.max, figures.isolation.count, figures.isolation.expected))
        say(
            try await Self.stages(
                after: burstStart, connector: "tour-b", freshness: figures.isolation, database: database, logger: logger))
        if GatewayProcess.logDirectory != nil {
            say(
                "  B's freshness by when its webhook was sent (p50 / max per \(Self.window) s of the burst): "
                    + Self.byWindow(trickle, figures.isolation))
            say(
                "  PostgreSQL's time by statement (execution, and planning when tracked), from the burst's start until B's deals "
                    + "were all made:")
            for line in try await cost().topStatements(since: beforeBurst, changes: plan.burst, count: 12) { say("    " + line) }
            try await describeWork(database: database, gateway: gateway, client: client, logger: logger)
        }
        figures.peakRSS = max(figures.peakRSS, gateway.peakRSS())
        try await gateway.stop()
        return figures
    }

    /// The width of a window of ``byWindow(_:_:)``, in seconds.
    static let window = 4

    /// Freshness by window of the time the webhooks were sent, as `p50 / max` in ms per window: whether changes wait
    /// longer as a burst goes on (its backlog growing) or alike throughout (the cores shared).
    static func byWindow(_ answers: AmoLoad.Answers, _ measured: Freshness) -> String {
        guard let start = answers.sent.values.min() else { return "(none)" }
        var windows: [Int64: [Double]] = [:]
        for (lead, made) in measured.created {
            guard let sent = answers.sent[lead] else { continue }
            windows[(sent - start) / Int64(1000 * window), default: []].append(made - Double(sent))
        }
        return windows.sorted { $0.key < $1.key }.map { _, latencies in
            String(format: "%.0f / %.0f", Stats.percentile(latencies, 0.5), latencies.max() ?? 0)
        }.joined(separator: ", ")
    }

    /// The measurements a run makes (`DEALSYNC_BENCH_ONLY`, comma-separated, to profile one of them): `ingest`
    /// (with its ceilings), `drain`, `tracing` (ingest and drain with traces exported and without), `freshness`
    /// (with isolation).
    static var phases: Set<String> {
        let only = ProcessInfo.processInfo.environment["DEALSYNC_BENCH_ONLY"] ?? ""
        return only.isEmpty ? ["ingest", "drain", "tracing", "freshness"] : Set(only.split(separator: ",").map(String.init))
    }

    /// How much of each measurement a run does.
    struct Plan {
        var seconds: Int
        var backlogs: [Int]
        var lightRate = 50
        var steadyRate = 500
        var burst: Int
        var trickleRate = 50

        init(quick: Bool) {
            seconds = quick ? 5 : 20
            backlogs = quick ? [1_000, 5_000] : [1_000, 10_000, 100_000]
            burst = quick ? 5_000 : 20_000
        }

        /// The backlog each of the tracing phase's two drains decides.
        var tracingBacklog: Int { backlogs.first ?? 1_000 }

        var leadsA: Int { backlogs.reduce(0, +) + 3 * tracingBacklog + (lightRate + steadyRate) * seconds + burst }
        var leadsB: Int { trickleRate * seconds }
    }

    // MARK: Measuring

    /// Waits for the backlog to be decided and returns observations per second, from the start of the first
    /// batch that decided backlog rows to the moment none is left pending, both from the database's clock (the
    /// gateway's start-up is not counted). Only the backlog's own rows count (those stored before the gateway
    /// started); rows its decisions bring in later (MasterDeal's events about the deals created) do not.
    ///
    /// It watches the lowest pending row of the backlog, looked for from the last one seen (a lane decides its rows
    /// in id order, so it only rises): counting the pending rows instead read every one of them fifty times a second,
    /// 100,000 at the largest backlog, and took PostgreSQL most of a core away from the gateway it was measuring.
    static func drain(_ backlog: Int, lastRow: Int64, database: Database, logger: Logger) async throws -> Double {
        func lowestPending(from low: Int64) async throws -> (id: Int64?, at: Double) {
            let rows = try await database.client.query(
                """
                SELECT (SELECT min(id) FROM inbox WHERE status = 'pending' AND id >= \(low) AND id <= \(lastRow)),
                    extract(epoch FROM clock_timestamp())::float8
                """, logger: logger)
            for try await row in rows.decode((Int64?, Double).self) { return row }
            return (nil, 0)
        }
        guard let first = try await lowestPending(from: 0).id else { throw BenchError("no backlog to drain") }
        var low = first
        let deadline = ContinuousClock.now.advanced(by: .seconds(600))
        while ContinuousClock.now < deadline {
            let (lowest, at) = try await lowestPending(from: low)
            guard let lowest else {
                let rows = try await database.client.query(
                    """
                    SELECT count(*)::int8, extract(epoch FROM min(processed_at))::float8 FROM inbox
                    WHERE id >= \(first) AND id <= \(lastRow)
                    """, logger: logger)
                for try await (decided, started) in rows.decode((Int, Double).self) { return Double(decided) / (at - started) }
                throw BenchError("the drained backlog could not be read")
            }
            low = lowest
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BenchError("the backlog of \(backlog) was not drained within 10 minutes")
    }

    static func lastInboxRow(database: Database, logger: Logger) async throws -> Int64 {
        let rows = try await database.client.query("SELECT coalesce(max(id), 0)::int8 FROM inbox", logger: logger)
        for try await id in rows.decode(Int64.self) { return id }
        return 0
    }

    /// Prints how the work was cut (with `DEALSYNC_BENCH_LOGS`): each lane's transactions (rows sharing a
    /// `processed_at`) and each target's deliveries, to see where a drain spends its time.
    func describeWork(database: Database, gateway: GatewayProcess, client: HTTPClient, logger: Logger) async throws {
        let lanes = try await database.client.query(
            """
            SELECT connector, count(*)::int8, count(DISTINCT processed_at)::int8,
                extract(epoch FROM max(processed_at) - min(processed_at))::float8
            FROM inbox WHERE processed_at IS NOT NULL GROUP BY connector ORDER BY connector
            """, logger: logger)
        for try await (connector, rows, batches, seconds) in lanes.decode((String, Int64, Int64, Double).self) {
            say(String(format: "  lane %@: %lld rows in %lld transactions over %.1f s", connector, rows, batches, seconds))
        }
        let targets = try await database.client.query(
            """
            SELECT target, status, count(*)::int8, count(DISTINCT done_at)::int8,
                coalesce(extract(epoch FROM avg(done_at - created_at)), 0)::float8,
                coalesce(extract(epoch FROM max(done_at) - min(created_at)), 0)::float8
            FROM outbox GROUP BY target, status ORDER BY target, status
            """, logger: logger)
        for try await (target, status, rows, rounds, wait, span) in targets.decode((String, String, Int64, Int64, Double, Double).self) {
            say(
                String(
                    format: "  outbox %@ %@: %lld writes in %lld rounds, %.2f s from decided to done on average, %.1f s in all",
                    target, status, rows, rounds, wait, span))
        }
        // Where a relay round's and a lane batch's time goes, from the gateway's `dealsync_relay_phase_seconds` and
        // `dealsync_lane_batch_seconds`.
        var phases: [String: (sum: Double, count: Double)] = [:]
        let metrics = try await gateway.metrics(client: client)
        for (histogram, name) in [("dealsync_relay_phase_seconds", "relay"), ("dealsync_lane_batch_seconds", "lane batches")] {
            for line in metrics where line.hasPrefix(histogram + "_") {
                let words = line.split(separator: " ")
                guard words.count == 2, let value = Double(words[1]), let labels = words[0].split(separator: "{").last else { continue }
                let key = "\(name) \(labels.dropLast())"
                if words[0].hasPrefix(histogram + "_sum") { phases[key, default: (0, 0)].sum = value }
                if words[0].hasPrefix(histogram + "_count") { phases[key, default: (0, 0)].count = value }
            }
        }
        for (key, phase) in phases.sorted(by: { $0.key < $1.key }) where phase.count > 0 {
            say(String(format: "  %@: %.0f, %.1f ms each on average", key, phase.count, 1000 * phase.sum / phase.count))
        }
    }

    /// Waits until every MasterDeal write is delivered, so the next measurement does not pay for this one's.
    static func waitForMasterDealWrites(database: Database, logger: Logger) async throws {
        for _ in 0..<6000 {
            // Whether any is open, not how many: counting 100,000 waiting writes ten times a second would load the
            // database the benchmark measures.
            let rows = try await database.client.query(
                "SELECT EXISTS (SELECT 1 FROM outbox WHERE target = 'masterdeal' AND status IN ('pending', 'in_flight'))", logger: logger)
            var open = true
            for try await found in rows.decode(Bool.self) { open = found }
            if !open { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("MasterDeal writes still open after 10 minutes")
    }

    /// Waits until no write is open for any target and no inbox row is pending, twice in a row a second apart
    /// (an echo arrives a moment after its write is done).
    static func settle(database: Database, logger: Logger, limit: Duration = .seconds(1200)) async throws {
        let started = ContinuousClock.now
        var quietChecks = 0
        while started.duration(to: .now) < limit {
            // Whether anything is open, not how much: a count of every open write and row each second took 32 ms of
            // PostgreSQL's time in the 100,000 drain's tail, which this waits out.
            let rows = try await database.client.query(
                """
                SELECT EXISTS (SELECT 1 FROM outbox WHERE status IN ('pending', 'in_flight'))
                    OR EXISTS (SELECT 1 FROM inbox WHERE status = 'pending')
                """, logger: logger)
            var open = true
            for try await found in rows.decode(Bool.self) { open = found }
            quietChecks = open ? 0 : quietChecks + 1
            if quietChecks == 2 { return }
            try await Task.sleep(for: .seconds(1))
        }
        throw BenchError("the drain's writes and echoes were not done after \(limit)")
    }

    /// Where the freshness of `connector`'s changes stored after inbox row `row` went: from the webhook's send time
    /// (`freshness.sent`, by the lead's id in the stored body) to the start of the transaction that stored it (the database's
    /// clock), from there to the start of the lane's transaction that decided it (the intake's commit, waiting for the
    /// lane), and from there to the deal's creation in MasterDeal (`freshness.created`, the simulator's clock: the lane's
    /// deciding and commit, waiting for a relay, the relay's claim and commit, the request). The last step also
    /// shows when the lane's transaction committed, when PostgreSQL tracks commit times
    /// (`DEALSYNC_BENCH_PG_SETTINGS="track_commit_timestamp=on"`), and when the relay recorded MasterDeal's answer
    /// (after every request of its round, so later than the deal was made).
    static func stages(
        after row: Int64, connector: String, freshness: Freshness, database: Database, logger: Logger
    )
        async throws -> String
    {
        let rows = try await database.client.query(
            """
            SELECT lead.parts[1]::int8, extract(epoch FROM i.received_at)::float8 * 1000,
                extract(epoch FROM i.processed_at - i.received_at)::float8 * 1000,
                extract(epoch FROM i.processed_at)::float8 * 1000,
                (978307200 + (o.attempt_log -> -1 ->> 'at')::float8 - extract(epoch FROM i.processed_at)::float8) * 1000,
                CASE WHEN current_setting('track_commit_timestamp') = 'on'
                    THEN extract(epoch FROM pg_xact_commit_timestamp(i.xmin) - i.processed_at)::float8 * 1000 END
            FROM outbox o JOIN inbox i ON i.id = o.inbox_id
                LEFT JOIN LATERAL regexp_match(convert_from(i.body, 'UTF8'), 'leads%5Bupdate%5D%5B0%5D%5Bid%5D=([0-9]+)') AS lead(parts)
                    ON true
            WHERE i.id > \(row) AND i.connector = \(connector) AND o.target = 'masterdeal' AND o.operation = 'create'
                AND o.status = 'done'
            """, logger: logger)
        var stages: [[Double]] = [[], [], [], [], []]
        for try await (lead, storedAt, laneStart, laneStartedAt, recorded, committed)
            in rows.decode((Int?, Double, Double, Double, Double, Double?).self)
        {
            if let lead, let sent = freshness.sent[lead] { stages[0].append(storedAt - Double(sent)) }
            stages[1].append(laneStart)
            if let lead, let made = freshness.created[lead] { stages[2].append(made - laneStartedAt) }
            stages[3].append(recorded)
            if let committed { stages[4].append(committed) }
        }
        func figure(_ values: [Double]) -> String {
            String(format: "%.0f / %.0f ms", Stats.percentile(values, 0.5), Stats.percentile(values, 0.99))
        }
        return "  where it went (p50 / p99 of \(stages[2].count) creates): sent → stored \(figure(stages[0])); stored → "
            + "its lane's transaction \(figure(stages[1])); that transaction → the deal made in MasterDeal \(figure(stages[2])) "
            + "(its commit \(stages[4].isEmpty ? "not tracked" : figure(stages[4])) after its start; the relay recorded the "
            + "answer \(figure(stages[3])) after it)"
    }

    /// Waits for a deal per webhook of `answers` in the MasterDeal simulator, then measures each one's freshness:
    /// the simulator's creation time minus the time the webhook for the lead named in the deal's name was sent.
    static func freshness(of answers: AmoLoad.Answers, account: String, master: String, client: HTTPClient) async throws -> Freshness {
        var result = Freshness()
        result.expected = answers.sent.count
        result.sent = answers.sent
        result.answersOK = answers.allOK
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var latencies: [Double] = []
        // Only the deals of this step: the whole list (130,000 deals after a full run's drains) costs the
        // simulators' process more every half second than the deals it is watching for.
        let since = (answers.sent.values.min() ?? 0) - 1_000
        for _ in 0..<300 {
            var request = HTTPClientRequest(url: "\(master)/_sim/deals?created_since=\(since)")
            request.method = .GET
            let response = try await client.execute(request, timeout: .seconds(60))
            let body = try await response.body.collect(upTo: 1 << 30)
            let items = JSONValue.parse(Data(body.readableBytesView))?["items"]?.array ?? []
            latencies = []
            result.created = [:]
            for item in items {
                guard item["account_id"]?.string == account, let name = item["opportunity_name"]?.string,
                    let created = item["created_at"]?.string, let date = formatter.date(from: created)
                else { continue }
                // Each step sends for leads of its own, once each: a deal of the account named for one of them is
                // its change's (the two simulated amoCRM accounts number their leads alike).
                let words = name.split(separator: " ")
                guard words.count == 3, let id = Int(words[2]), let sent = answers.sent[id] else { continue }
                latencies.append(date.timeIntervalSince1970 * 1000 - Double(sent))
                result.created[id] = date.timeIntervalSince1970 * 1000
            }
            if latencies.count >= result.expected { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        result.count = latencies.count
        result.p50 = Stats.percentile(latencies, 0.5)
        result.p99 = Stats.percentile(latencies, 0.99)
        result.max = latencies.max() ?? .nan
        return result
    }

    /// The first line the simulators' process prints, decoded as `Ready`.
    static func awaitReady<Ready: Decodable>(_ sims: ChildProgram, as: Ready.Type = BenchSims.Ready.self) async throws -> Ready {
        for _ in 0..<3000 {
            if let line = sims.stdout.split(separator: "\n").first,
                let ready = try? JSONDecoder().decode(Ready.self, from: Data(line.utf8))
            {
                return ready
            }
            if let status = sims.poll() { throw BenchError("the simulators stopped (\(status)): \(sims.stderr.prefix(500))") }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("the simulators did not start")
    }
}

/// `dealsync serve` as a process of its own, started and stopped between measurements on one database.
final class GatewayProcess: @unchecked Sendable {
    // Used from one task at a time (the benchmark's), never concurrently.
    /// Where each run's log is kept (`DEALSYNC_BENCH_LOGS`), for finding out where time went.
    static let logDirectory = ProcessInfo.processInfo.environment["DEALSYNC_BENCH_LOGS"]
    private var runs = 0
    let binary: String
    let config: String
    let database: DatabaseURL
    let port: Int
    private var process: ChildProgram?
    /// More environment for the next `serve` started (the `OTEL_*` of a traced run).
    var environment: [String: String] = [:]

    init(binary: String, config: String, database: DatabaseURL, port: Int) {
        self.binary = binary
        self.config = config
        self.database = database
        self.port = port
    }

    var url: String { "http://127.0.0.1:\(port)" }

    /// More `serve` options for every run (`DEALSYNC_BENCH_SERVE_ARGS`, space-separated), to compare settings.
    static let extraArguments = (ProcessInfo.processInfo.environment["DEALSYNC_BENCH_SERVE_ARGS"] ?? "").split(separator: " ").map(
        String.init)

    /// Where each run's CPU profile goes (`DEALSYNC_BENCH_PERF`): serve runs under `perf record`.
    static let profileDirectory = ProcessInfo.processInfo.environment["DEALSYNC_BENCH_PERF"]

    func start(intakeOnly: Bool = false, polling: Bool = false) async throws {
        let serve =
            [
                "serve", "--config", config, "--database-url", database.revealedURLString(), "--host", "127.0.0.1", "--port", "\(port)",
                "--log-level", Self.logDirectory == nil ? "warning" : "info",
            ] + (polling ? [] : ["--no-polling"]) + (intakeOnly ? ["--intake-only"] : []) + Self.extraArguments
        let process: ChildProgram
        if let directory = Self.profileDirectory {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            process = try ChildProgram(
                "/usr/bin/perf", ["record", "-F", "499", "-g", "-o", "\(directory)/\(fileName(runs + 1)).perf", "--", binary] + serve,
                environment: environment)
        } else {
            process = try ChildProgram(binary, serve, environment: environment)
        }
        self.process = process
        for _ in 0..<600 {
            if let status = process.poll() { throw BenchError("dealsync serve stopped (\(status)): \(process.stderr.suffix(800))") }
            if (try? await HTTPClient.shared.execute(HTTPClientRequest(url: "\(url)/readyz"), timeout: .seconds(2)))?.status == .ok {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("dealsync serve did not become ready")
    }

    func stop() async throws {
        guard let process else { return }
        if Self.profileDirectory != nil {
            // perf's child is the gateway: it gets the signal, and perf ends with it.
            _ = try? await ChildProgram.run("/usr/bin/pkill", ["-TERM", "-P", "\(process.pid)"])
        } else {
            process.signal(SIGTERM)
        }
        _ = await process.wait()
        keepLogs(of: process)
        self.process = nil
    }

    /// SIGKILL: no shutdown at all; the process is gone when this returns.
    func kill() async {
        guard let process else { return }
        process.signal(SIGKILL)
        _ = await process.wait()
        keepLogs(of: process)
        self.process = nil
    }

    /// Each run's files are named by the instance's port and the run's number (`serve-45895-1.log`), so the
    /// gateways of one benchmark never overwrite each other's.
    private func fileName(_ run: Int) -> String { "serve-\(port)-\(run)" }

    private func keepLogs(of process: ChildProgram) {
        runs += 1
        guard let directory = Self.logDirectory else { return }
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try? process.stderr.write(toFile: "\(directory)/\(fileName(runs)).log", atomically: true, encoding: .utf8)
        try? process.stdout.write(toFile: "\(directory)/\(fileName(runs)).out", atomically: true, encoding: .utf8)
    }

    /// The running gateway's pid.
    var pid: Int32? { process?.pid }

    /// The peak resident set size of the running gateway (`VmHWM`), in MiB.
    func peakRSS() -> Double { memory("VmHWM:") }

    /// The resident set size of the running gateway now (`VmRSS`), in MiB.
    func currentRSS() -> Double { memory("VmRSS:") }

    private func memory(_ field: String) -> Double {
        guard let pid = process?.pid, let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field) }),
            let kib = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kib / 1024
    }

    /// CPU time the running gateway has used so far (user and system), in seconds.
    func cpuSeconds() -> Double {
        guard let pid = process?.pid, let fields = ProcessCPU.stat(of: pid) else { return 0 }
        // utime and stime: fields 14 and 15.
        return (fields[11] + fields[12]) / ProcessCPU.ticksPerSecond
    }
}

extension GatewayProcess {
    /// The gateway's `/metrics` exposition, one sample per line.
    func metrics(client: HTTPClient = .shared) async throws -> [Substring] {
        let response = try await client.execute(HTTPClientRequest(url: "\(url)/metrics"), timeout: .seconds(10))
        return String(buffer: try await response.body.collect(upTo: 1 << 26)).split(separator: "\n")
    }
}
