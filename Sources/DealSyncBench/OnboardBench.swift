import AsyncHTTPClient
import DealSyncCore
import DealSyncGateway
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

/// The onboarding benchmark: an amoCRM account with years of leads (``OnboardingHistory``) and a MasterDeal with
/// deals for many of the same customers, in a process of their own; `dealsync serve` in another; `dealsync onboard
/// --wait` in a third, on PostgreSQL with fsync on. Measures how long reading, applying and delivering take and how
/// many amoCRM calls they make against the fewest the page and batch sizes allow, with amoCRM's real 7 requests/s.
struct OnboardBench {
    let repository: String
    let binaries: String
    let quick: Bool
    let say: @Sendable (String) -> Void

    struct Figures {
        var leads = 0
        var matchedAsBuilt = false
        var seconds: [String: Double] = [:]
        var readCalls = 0
        var fewestReadCalls = 0
        var writeCalls = 0
        var fewestWriteCalls = 0
        var rateLimited = 0
        var busiestSecond = 0
        /// Reads by `serve` while delivering (a lead read after its create, to learn when it landed).
        var otherReads = 0
        var routes: [String: Int] = [:]
    }

    static let layout = OnboardingHistory.Layout(
        account: "acc-a", openStatuses: [(7_001_001, "lead"), (7_001_002, "qualified"), (7_001_004, "proposal")],
        closedStatus: (143, "lost"), owners: [(6_001_001, "u-olga"), (6_001_002, "u-ivan"), (6_001_003, "u-anna")],
        phoneField: 900_003, phoneAttribute: "client_phone", linkField: 900_001)

    func run() async throws -> Figures {
        var figures = Figures()
        figures.leads = quick ? 4_000 : 20_000
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let cluster = try await BenchConfig.durableCluster(creating: ["onboard"], logger: logger)
        defer { cluster.stop() }
        let databaseURL = cluster.url.with(database: "onboard")
        let directory = NSTemporaryDirectory() + "dealsync-bench-onboard-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func configure(master: String, amo: String) throws {
            try BenchConfig.write(into: directory, repository: repository, masterURL: master, amoA: amo, amoB: "http://127.0.0.1:1")
            // The open stages only: closed leads from the past stay out of MasterDeal.
            let path = "\(directory)/mappings/tour-agency.yaml"
            let text = try String(contentsOfFile: path, encoding: .utf8) + "\nscope: {stages: [lead, qualified, proposal]}\n"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        try configure(master: "http://127.0.0.1:1", amo: "http://127.0.0.1:1")
        let gatewayPort = try EmbeddedPostgres.freePort()
        let sims = try ChildProgram(
            "\(binaries)/dealsync-bench",
            ["onboard-sims", "--config", directory, "--gateway-port", "\(gatewayPort)", "--leads", "\(figures.leads)"])
        defer { sims.signal(SIGTERM) }
        let ready = try await ServeBench.awaitReady(sims, as: OnboardSims.Ready.self)
        try configure(master: ready.master, amo: ready.amo)
        let expected = ready.expected
        say(
            "history (simulators' process): \(expected.leads) amoCRM leads over five years, \(expected.deals) MasterDeal deals; by construction \(expected.linkByKey) match by phone, \(expected.linkByLinkField) carry their link, \(expected.ambiguousCRM) are ambiguous, \(expected.outOfScopeCRM) closed, \(expected.createInMaster) match nothing"
        )
        let gateway = GatewayProcess(binary: "\(binaries)/dealsync", config: directory, database: databaseURL, port: gatewayPort)
        try await gateway.start()
        defer { Task { try? await gateway.stop() } }
        let onboard = try await ChildProgram.run(
            "\(binaries)/dealsync",
            [
                "onboard", "--connector", "tour-a", "--json", "--wait", "--config", directory, "--database-url",
                databaseURL.revealedURLString(), "--actor", "bench",
            ])
        guard onboard.status == 0 else { throw BenchError("dealsync onboard failed (\(onboard.status)): \(onboard.stderr.suffix(800))") }
        let report = try JSONDecoder().decode(OnboardingReport.self, from: Data(onboard.stdout.utf8))
        try await gateway.stop()
        figures.seconds = report.seconds
        let done = report.done ?? OnboardingStore.Counts()
        figures.matchedAsBuilt =
            report.plan.linkByKey["client_phone"] == expected.linkByKey && report.plan.linkByLinkField == expected.linkByLinkField
            && report.plan.ambiguousCRM == expected.ambiguousCRM && report.plan.outOfScopeCRM == expected.outOfScopeCRM
            && done.createdInMaster == expected.createInMaster && done.createdInCRM == expected.createInCRM
            && done.linked == expected.linkByKey + expected.linkByLinkField
        let answer = try await HTTPClient.shared.execute(HTTPClientRequest(url: "\(ready.amo)/_sim/stats"), timeout: .seconds(10))
        let stats = try JSONDecoder().decode(AmoStats.self, from: Data(String(buffer: try await answer.body.collect(upTo: 1 << 20)).utf8))
        let routes = stats.requestsByRoute
        figures.readCalls = report.readCRM.calls
        figures.otherReads = (routes["GET /api/v4/leads"] ?? 0) - report.readCRM.calls + (routes["GET /api/v4/leads/{id}"] ?? 0)
        figures.routes = routes
        figures.writeCalls = (routes["PATCH /api/v4/leads"] ?? 0) + (routes["POST /api/v4/leads"] ?? 0)
        figures.rateLimited = stats.rateLimited
        figures.busiestSecond = stats.maxRequestsInOneSecond
        // Pages of 250 to read; batches of 50 to write: the link field of every lead matched by phone or created in
        // MasterDeal, and the leads made for MasterDeal's own deals.
        figures.fewestReadCalls = (expected.leads + 249) / 250
        figures.fewestWriteCalls = (expected.linkByKey + expected.createInMaster + 49) / 50 + (expected.createInCRM + 49) / 50
        say(
            String(
                format: "onboarding %d leads: read %.1f s, plan %.1f s, apply %.1f s, delivery %.1f s", figures.leads,
                figures.seconds["read"] ?? .nan, figures.seconds["plan"] ?? .nan, figures.seconds["apply"] ?? .nan,
                figures.seconds["delivery"] ?? .nan))
        say(
            "  amoCRM calls: onboarding read \(figures.readCalls) pages (fewest possible \(figures.fewestReadCalls)); delivering, serve made \(figures.writeCalls) writes (fewest \(figures.fewestWriteCalls)) and \(figures.otherReads) reads; \(figures.rateLimited) answered 429, busiest second \(figures.busiestSecond) requests (amoCRM allows 7)"
        )
        say("  by route: " + figures.routes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        say(
            "  linked \(done.linked), created in MasterDeal \(done.createdInMaster), created in amoCRM \(done.createdInCRM), held \(done.held); as built: \(figures.matchedAsBuilt ? "yes" : "NO")"
        )
        return figures
    }
}

/// `dealsync-bench onboard-sims`: MasterDeal and one amoCRM account filled with history, in a process of their own.
enum OnboardSims {
    struct Ready: Codable {
        var master: String
        var amo: String
        var expected: OnboardingHistory.Expected
    }

    static func run(arguments: [String]) async throws {
        let option = { (name: String) in BenchSims.option(name, in: arguments) }
        guard let directory = option("config"), let gatewayPort = option("gateway-port").flatMap(Int.init),
            let leads = option("leads").flatMap(Int.init)
        else {
            throw BenchError("usage: dealsync-bench onboard-sims --config DIR --gateway-port PORT --leads N")
        }
        let environment = BenchConfig.environment(directory: directory)
        let mapping = try BenchConfig.mapping(directory: directory, environment: environment)
        var master = MasterDealSimulator.Configuration()
        master.tokens = [environment["MASTERDEAL_TOKEN"] ?? "": "dealsync"]
        master.eventTargets = [
            .init(url: "http://127.0.0.1:\(gatewayPort)/webhooks/masterdeal", secret: environment["MASTERDEAL_EVENT_SECRET"] ?? "")
        ]
        let masterDeal = MasterDealSimulator(configuration: master)
        let amo = AmoCRMSimulator(configuration: BenchSims.amoConfiguration(mapping: mapping, prefix: "TOUR_A", environment: environment))
        let history = OnboardingHistory(
            leads: leads, layout: OnboardBench.layout, seed: 2026, now: Int(Date().timeIntervalSince1970) - 3_600)
        try amo.seedHistory(history.leads)
        try masterDeal.seedHistory(history.deals)
        let quiet = Logger(label: "bench-sims", factory: { _ in SwiftLogNoOpLogHandler() })
        try await masterDeal.withRunning { masterURL in
            try await amo.withRunning { amoURL in
                let ready = Ready(master: masterURL, amo: amoURL, expected: history.expected)
                print(String(decoding: try JSONEncoder().encode(ready), as: UTF8.self))
                fflush(nil)
                let group = ServiceGroup(services: [BenchSims.Forever()], gracefulShutdownSignals: [.sigterm, .sigint], logger: quiet)
                try await group.run()
            }
        }
    }
}
