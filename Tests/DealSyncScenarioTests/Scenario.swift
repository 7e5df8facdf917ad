import AsyncHTTPClient
import DealSyncCore
import DealSyncKafka
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import Synchronization

/// One scenario's world, driven from outside as an operator would: a fresh database, the MasterDeal and amoCRM
/// simulators on loopback (in this process, so the test can play their users and read their state), a
/// configuration directory of its own, and the real `dealsync serve` as a child process that the test can
/// stop, kill and start again.
final class Scenario: Sendable {
    static let webhookSecret = "scenario-hook-secret-7c41d9"
    static let eventSecret = "scenario-event-secret-52ab"
    static let token = "scenario-masterdeal-token"
    static let account = "acc-tour"
    static let linkField = 900_001
    static let pipeline = 7_001_000
    static let olga = 6_001_001, ivan = 6_001_002
    /// amoCRM status → MasterDeal stage, as the mapping below says (first status of each stage).
    static let stageByStatus = [
        7_001_001: "lead", 7_001_002: "qualified", 7_001_003: "qualified", 7_001_004: "proposal",
        7_001_006: "won", 7_001_007: "active", 142: "closed", 143: "lost",
    ]
    static let ownerByUser = [olga: "u-olga", ivan: "u-ivan"]

    static let mappingYAML = TourFixture.mapping()

    struct Options: Sendable {
        /// Where amoCRM sends its webhooks: to the gateway, or somewhere that refuses them (the attempts, with
        /// their bodies, stay in the simulator's history for the test to deliver itself).
        var amoWebhooksToGateway = true
        /// Whether MasterDeal sends its events to the gateway.
        var masterEventsToGateway = true
        /// `serve --no-polling`: webhooks and events only.
        var polling = true
        /// Multiplies amoCRM's webhook retry delays (5 min, 15 min, ...).
        var amoWebhookTimeScale = 0.001
        /// The `delivery:` settings of the amoCRM connector.
        var amoDeliveryYAML = "delivery: {backoff_base: 100ms, backoff_cap: 1s}"
        /// `serve --log-level`.
        var logLevel = "info"
        /// No database URL: `serve` and the commands use the durable embedded default in `<config>/.dealsync`.
        var embedded = false
        /// MasterDeal on a Kafka bus (the mock cluster, run by the test process, reached by `serve` over loopback):
        /// its events go only to the events topic (partitions: ``kafkaPartitions``), dealsync's writes to the
        /// changes topic.
        var kafka = false
        var kafkaPartitions = 8
        /// More environment for `dealsync serve` (the `OTEL_*` variables of a traced run).
        var serveEnvironment: [String: String] = [:]
        /// A PostgreSQL of the scenario's own (not the shared test cluster), which the test may crash
        /// (``privateCluster``).
        var privateCluster = false
        /// More arguments for `dealsync serve`.
        var serveArguments: [String] = []
    }

    let options: Options
    let directory: String
    /// The scenario's database; with the embedded default, `nil` (its cluster's port is known only while it runs).
    private let externalURL: DatabaseURL?
    let gatewayPort: Int
    let masterDeal: MasterDealSimulator
    let amo: AmoCRMSimulator
    let masterURL: String
    let amoURL: String
    let binary: String
    let kafka: KafkaMockCluster?
    let bus: MasterDealBus?
    /// The scenario's own PostgreSQL (``Options/privateCluster``).
    let privateCluster: EmbeddedPostgres?
    private let current = Mutex<ChildProgram?>(nil)
    /// Every `serve` started, for the output of a failing test.
    private let started = Mutex<[ChildProgram]>([])

    var gatewayURL: String { "http://127.0.0.1:\(gatewayPort)" }
    /// The embedded default's data directory: `serve`'s default, beside the configuration.
    var dataDirectory: DataDirectory { DataDirectory(path: directory + "/.dealsync") }
    /// The database: the scenario's own, or the embedded default's cluster while it runs.
    var databaseURL: DatabaseURL {
        get throws {
            if let externalURL { return externalURL }
            guard let running = dataDirectory.runningCluster() else { throw ChildProgramError("the embedded cluster is not running") }
            return DatabaseURL(host: "127.0.0.1", port: running.port, user: EmbeddedPostgres.user, database: "postgres")
        }
    }
    var amoHookURL: String { "\(gatewayURL)/webhooks/tour/\(Self.webhookSecret)" }
    var serve: ChildProgram? { current.withLock { $0 } }

    private init(
        options: Options, directory: String, databaseURL: DatabaseURL?, gatewayPort: Int, masterDeal: MasterDealSimulator,
        amo: AmoCRMSimulator, masterURL: String, amoURL: String, binary: String, kafka: KafkaMockCluster?, bus: MasterDealBus?,
        privateCluster: EmbeddedPostgres? = nil
    ) {
        self.privateCluster = privateCluster
        self.kafka = kafka
        self.bus = bus
        self.options = options
        self.directory = directory
        self.externalURL = databaseURL
        self.gatewayPort = gatewayPort
        self.masterDeal = masterDeal
        self.amo = amo
        self.masterURL = masterURL
        self.amoURL = amoURL
        self.binary = binary
    }

    /// Starts the simulators and writes the configuration (the gateway is started by the test), runs `body`,
    /// then stops whatever `serve` is still running and the simulators. A failing body prints the gateway's log.
    static func run(_ options: Options = Options(), _ body: @Sendable (Scenario) async throws -> Void) async throws {
        let binary = try Repository.dealsyncBinary()
        // initdb is waited for off the cooperative threads (the other tests need them meanwhile).
        let privateCluster: EmbeddedPostgres? = options.privateCluster ? try await offThePool { try EmbeddedPostgres.start() } : nil
        defer { privateCluster?.stop() }
        let databaseURL: DatabaseURL? =
            if options.embedded { nil } else if let privateCluster {
                try await privateCluster.createDatabase("dealsync", logger: TestPostgres.logger)
            } else { try await TestPostgres.freshDatabaseURL(migrated: false) }
        let gatewayPort = try FreePort.pick()
        let gatewayURL = "http://127.0.0.1:\(gatewayPort)"
        let mapping = try ConfigurationLoader(environment: [:])
            .load(connectors: [], mappings: [.init(path: "mappings/tour.yaml", text: mappingYAML)]).mappings["tour"]!
        var masterConfiguration = MasterDealSimulator.Configuration()
        masterConfiguration.tokens = [token: "dealsync"]
        masterConfiguration.eventTimeScale = 0.01
        if options.masterEventsToGateway && !options.kafka {
            masterConfiguration.eventTargets = [.init(url: "\(gatewayURL)/webhooks/masterdeal", secret: eventSecret)]
        }
        let masterDeal = MasterDealSimulator(configuration: masterConfiguration)
        let directory = NSTemporaryDirectory() + "dealsync-scenario-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var kafka: KafkaMockCluster?
        var bus: MasterDealBus?
        var masterExtra = ""
        if options.kafka {
            let (cluster, onBus) = try MasterDealBus.onMockCluster(
                masterDeal, partitions: options.kafkaPartitions, logger: Logger(label: "masterdeal-bus"))
            (kafka, bus, masterExtra) = (cluster, onBus, onBus.connectorYAML)
        }
        defer { kafka?.shutdown() }
        let (cluster, masterBus, masterYAML) = (kafka, bus, masterExtra)
        try await SimulatorHost.withRunning(
            router: masterDeal.makeRouter(), services: masterDeal.services + (masterBus.map { [$0] } ?? []),
            port: 0
        ) { masterURL in
            var amoConfiguration = AmoCRMSimulator.Configuration(matching: mapping)
            amoConfiguration.webhookTimeScale = options.amoWebhookTimeScale
            amoConfiguration.seed = 11
            // Not to the gateway: to a server that answers 404 at once (a closed port would keep each attempt
            // waiting for its timeout while the client retries the connection).
            amoConfiguration.webhooks = [
                options.amoWebhooksToGateway ? "\(gatewayURL)/webhooks/tour/\(webhookSecret)" : "\(masterURL)/nobody-here"
            ]
            let amo = AmoCRMSimulator(configuration: amoConfiguration)
            try await amo.withRunning { amoURL in
                try writeConfiguration(
                    to: directory, masterURL: masterURL, amoURL: amoURL, amoDelivery: options.amoDeliveryYAML,
                    masterExtra: masterYAML)
                let scenario = Scenario(
                    options: options, directory: directory, databaseURL: databaseURL, gatewayPort: gatewayPort,
                    masterDeal: masterDeal, amo: amo, masterURL: masterURL, amoURL: amoURL, binary: binary,
                    kafka: cluster, bus: masterBus, privateCluster: privateCluster)
                do {
                    try await body(scenario)
                } catch {
                    print(scenario.gatewayLogs())
                    await scenario.stopGateway()
                    throw error
                }
                await scenario.stopGateway()
            }
        }
    }

    static func writeConfiguration(
        to directory: String, masterURL: String, amoURL: String, amoDelivery: String, masterExtra: String = ""
    ) throws {
        let files = [
            ("connectors/masterdeal.yaml", TourFixture.masterDeal(url: masterURL, token: token, secret: eventSecret, extra: [masterExtra])),
            (
                "connectors/tour.yaml",
                TourFixture.connector(url: amoURL, secret: webhookSecret, extra: ["poll: {interval: 1s, overlap: 2s}", amoDelivery])
            ),
            ("mappings/tour.yaml", mappingYAML),
        ]
        try writeFiles(files, into: directory)
    }

    // MARK: The gateway

    /// Starts `dealsync serve` on the scenario's port and database and waits until `/readyz` answers 200.
    @discardableResult
    func startGateway() async throws -> ChildProgram {
        var arguments = [
            "serve", "--config", directory, "--env-file", "/dev/null",
            "--host", "127.0.0.1", "--port", String(gatewayPort), "--log-level", options.logLevel,
        ]
        if let externalURL { arguments += ["--database-url", externalURL.revealedURLString()] }
        if !options.polling { arguments.append("--no-polling") }
        arguments += options.serveArguments
        let program = try ChildProgram(binary, arguments, environment: options.serveEnvironment)
        current.withLock { $0 = program }
        started.withLock { $0.append(program) }
        try await eventually("dealsync serve is ready", timeout: .seconds(20)) {
            if let status = program.poll() { throw ChildProgramError("dealsync serve exited with \(status):\n\(program.stderr)") }
            return (try? await get("/readyz").status) == 200
        }
        return program
    }

    /// Another `dealsync serve` on the same configuration and database, on a port of its own, as a second
    /// machine would run it; the caller stops it.
    func startAnotherGateway() async throws -> (program: ChildProgram, url: String) {
        let port = try FreePort.pick()
        var arguments = [
            "serve", "--config", directory, "--env-file", "/dev/null",
            "--host", "127.0.0.1", "--port", String(port), "--log-level", options.logLevel,
        ]
        if let externalURL { arguments += ["--database-url", externalURL.revealedURLString()] }
        if !options.polling { arguments.append("--no-polling") }
        let program = try ChildProgram(binary, arguments)
        started.withLock { $0.append(program) }
        let url = "http://127.0.0.1:\(port)"
        try await eventually("the other dealsync serve is ready", timeout: .seconds(20)) {
            if let status = program.poll() { throw ChildProgramError("dealsync serve exited with \(status):\n\(program.stderr)") }
            return (try? await send(.GET, url + "/readyz").status) == 200
        }
        return (program, url)
    }

    /// SIGKILL: no shutdown, no goodbye; the process is gone when this returns.
    func killGateway() async {
        guard let program = current.withLock({ $0 }) else { return }
        program.signal(SIGKILL)
        _ = await program.wait()
        current.withLock { $0 = nil }
    }

    /// SIGTERM, then waits up to `timeout` for the exit status (nil when it did not exit in time).
    func terminateGateway(timeout: Duration = .seconds(15)) async -> Int32? {
        guard let program = current.withLock({ $0 }) else { return nil }
        program.signal(SIGTERM)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let status = program.poll() {
                current.withLock { $0 = nil }
                return status
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    func stopGateway() async {
        if await terminateGateway(timeout: .seconds(10)) == nil { await killGateway() }
    }

    /// Runs another `dealsync` command against the scenario's database (and configuration, with `config`).
    /// With the embedded default, the command is given no URL and finds the cluster itself (through `--config`,
    /// else `--data-dir`).
    func dealsync(_ arguments: [String], config: Bool = false) async throws -> (status: Int32, stdout: String, stderr: String) {
        let configuration = config ? ["--config", directory, "--env-file", "/dev/null"] : []
        let database =
            externalURL.map { ["--database-url", $0.revealedURLString()] } ?? (config ? [] : ["--data-dir", dataDirectory.path])
        return try await ChildProgram.run(binary, arguments + configuration + database, environment: ["DATABASE_URL": ""])
    }

    func gatewayLogs() -> String {
        started.withLock { programs in
            programs.enumerated().map { index, program in
                "--- dealsync serve #\(index + 1) (pid \(program.pid)) ---\n" + String(program.stderr.suffix(20_000))
            }.joined(separator: "\n")
        }
    }

    // MARK: HTTP

    /// Whether something accepts TCP connections on the loopback `port`.
    static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    func get(_ path: String) async throws -> (status: Int, body: String) {
        try await send(.GET, gatewayURL + path)
    }

    func post(_ path: String, headers: [(String, String)] = [], body: String) async throws -> (status: Int, body: String) {
        try await send(.POST, gatewayURL + path, headers: headers, body: body)
    }

    func send(
        _ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], body: String? = nil
    ) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let data = try await response.body.collect(upTo: 1 << 22)
        return (Int(response.status.code), String(buffer: data))
    }

    /// Posts an amoCRM webhook body as amoCRM does: form-encoded, with a request id when given.
    func postAmoWebhook(_ body: String, requestID: String? = nil, secret: String = Scenario.webhookSecret) async throws -> Int {
        var headers = [("Content-Type", "application/x-www-form-urlencoded"), ("User-Agent", "amoCRM-Webhooks/3.0")]
        if let requestID { headers.append(("X-Amocrm-Requestid", requestID)) }
        return try await post("/webhooks/tour/\(secret)", headers: headers, body: body).status
    }

    // MARK: The database

    /// Every value of the first column of `sql`, as text.
    func texts(_ sql: String) async throws -> [String] {
        try await Database.withDatabase(try databaseURL, logger: TestPostgres.logger, maximumConnections: 1) { database in
            let rows = try await database.client.query(PostgresQuery(unsafeSQL: sql))
            var values: [String] = []
            for try await value in rows.decode(String?.self) { if let value { values.append(value) } }
            return values
        }
    }

    /// The first column of the first row of `sql`, as an integer (counts).
    func count(_ sql: String) async throws -> Int {
        try await Database.withDatabase(try databaseURL, logger: TestPostgres.logger, maximumConnections: 1) { database in
            let rows = try await database.client.query(PostgresQuery(unsafeSQL: sql))
            for try await value in rows.decode(Int.self) { return value }
            return 0
        }
    }

    /// Open outbox rows and unprocessed inbox rows, one per line, for a failing test's output.
    func dumpOpenWork() async -> String {
        let queries = [
            """
            SELECT 'outbox ' || id || ' ' || target || ' ' || operation || ' ' || status || ' attempts=' || attempts
                || ' claimed_by=' || coalesce(claimed_by, '-') || ' claimed_until=' || coalesce((claimed_until - now())::text, '-')
                || ' due=' || (next_attempt_at - now())::text
            FROM outbox WHERE status IN ('pending', 'in_flight') ORDER BY id
            """,
            """
            SELECT 'inbox ' || id || ' ' || connector || ' ' || source || ' attempts=' || attempts || ' due=' || (next_attempt_at - now())::text
                || ' ' || coalesce(error, '')
            FROM inbox WHERE status = 'pending' ORDER BY id
            """,
        ]
        do {
            return try await Database.withDatabase(try databaseURL, logger: TestPostgres.logger, maximumConnections: 1) { database in
                var lines: [String] = []
                for query in queries {
                    let rows = try await database.client.query(PostgresQuery(unsafeSQL: query))
                    for try await line in rows.decode(String.self) { lines.append(line) }
                }
                return lines.joined(separator: "\n")
            }
        } catch {
            return "cannot read the database: \(error)"
        }
    }

    /// Writes still waiting for a target, and inbox rows still waiting to be processed.
    func openWork() async throws -> Int {
        try await count(
            """
            SELECT (SELECT count(*) FROM outbox WHERE status IN ('pending', 'in_flight'))
                 + (SELECT count(*) FROM inbox WHERE status = 'pending')
            """)
    }

    // MARK: Looking at both sides

    func leads() -> [AmoLead] { amo.allLeads(includingDeleted: true) }
    func deals() -> [MasterDealSimulator.Deal] { masterDeal.allDeals().filter { $0.accountID == Self.account } }

    static func link(of lead: AmoLead) -> String? { lead.values(ofField: linkField)?.first }

    /// What is wrong between a deal and its lead, or nil when they agree on every mapped field.
    static func difference(_ deal: MasterDealSimulator.Deal, _ lead: AmoLead) -> String? {
        var problems: [String] = []
        if link(of: lead) != deal.id { problems.append("link \(link(of: lead) ?? "-") ≠ \(deal.id)") }
        if deal.opportunityName != lead.name { problems.append("title «\(deal.opportunityName)» ≠ «\(lead.name)»") }
        if deal.amount.flatMap(Double.init).map({ Int($0.rounded()) }) != lead.price {
            problems.append("amount \(deal.amount ?? "-") ≠ price \(lead.price)")
        }
        if stageByStatus[lead.statusID] != deal.stage { problems.append("stage \(deal.stage) ≠ status \(lead.statusID)") }
        if ownerByUser[lead.responsibleUserID] != deal.ownerID {
            problems.append("owner \(deal.ownerID ?? "-") ≠ user \(lead.responsibleUserID)")
        }
        return problems.isEmpty ? nil : "deal \(deal.id) / lead \(lead.id): " + problems.joined(separator: ", ")
    }

    /// Every reason the two sides are not yet one-to-one and equal; empty when they are.
    func disagreements() -> [String] {
        let leads = leads()
        let deals = deals()
        var problems: [String] = []
        if leads.count != deals.count { problems.append("\(leads.count) leads but \(deals.count) deals") }
        let dealsByID = Dictionary(deals.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var linked: [String: Int] = [:]
        for lead in leads {
            if lead.isDeleted { problems.append("lead \(lead.id) is deleted") }
            guard let id = Self.link(of: lead) else {
                problems.append("lead \(lead.id) «\(lead.name)» has no master_deal_id")
                continue
            }
            linked[id, default: 0] += 1
            guard let deal = dealsByID[id] else {
                problems.append("lead \(lead.id) links to \(id), which is not a deal of \(Self.account)")
                continue
            }
            if let difference = Self.difference(deal, lead) { problems.append(difference) }
        }
        for (id, count) in linked where count > 1 { problems.append("\(count) leads carry deal \(id)") }
        for deal in deals where linked[deal.id] == nil { problems.append("deal \(deal.id) «\(deal.opportunityName)» has no lead") }
        return problems
    }
}
