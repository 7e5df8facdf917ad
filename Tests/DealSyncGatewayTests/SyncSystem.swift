import AsyncHTTPClient
import DealSyncConnectors
import DealSyncCore
import DealSyncGateway
import DealSyncKafka
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import ServiceLifecycle

/// A whole system on loopback: the MasterDeal and amoCRM simulators, a gateway and a fresh database.
struct SyncSystem: Sendable {
    let masterDeal: MasterDealSimulator
    let amo: AmoCRMSimulator
    let bitrix: Bitrix24Simulator
    let bitrixURL: String
    let masterURL: String
    let amoURL: String
    let gatewayURL: String
    let database: Database
    /// The database's URL with its password, for `dealsync` CLI runs against it.
    let databaseURL: String
    let gateway: Gateway
    /// Further gateways on the same database (``Options/extraGateways``).
    let others: [Gateway]
    let configuration: Configuration
    /// A directory holding the same connectors/ and mappings/ the gateways run with, for CLI runs.
    let configDirectory: String
    /// The Kafka cluster and MasterDeal's side of the bus (``Options/kafka``).
    var kafka: KafkaMockCluster? = nil
    var bus: MasterDealBus? = nil

    static let webhookSecret = "tour-webhook-secret-123456"
    static let applicationToken = "q8m3v1x7c2n9b5z4k6j0h2g8f1d7s3a5"

    /// The fitness mapping, with `extraFields` (YAML lines indented by two spaces) added to its fields.
    static func fitnessMappingYAML(extraFields: String = "") -> String {
        fitnessTemplate.replacingOccurrences(of: "%EXTRA%", with: extraFields)
    }

    static let fitnessTemplate = """
        name: fitness
        crm: bitrix24
        pipeline: 2
        link_field: ORIGIN_ID
        originator: dealsync
        on_delete: {policy: propagate, master_stage: lost}
        fields:
          title: {master: opportunity_name, crm: TITLE, conflict: lww}
          amount: {master: amount, crm: OPPORTUNITY, transform: money, conflict: {priority: master}}
          stage: {master: stage, crm: STAGE_ID, transform: stage, conflict: {priority: master}}
          owner: {master: owner_id, crm: ASSIGNED_BY_ID, transform: owner, conflict: lww}
          program:
            master: attributes.program
            crm: UF_CRM_PROGRAM
            transform: {enum: {personal: "41", group: "42", online: "43"}}
        %EXTRA%
        """ + FitnessFixture.stagesAndOwners
    static let eventSecret = "md-event-secret"
    static let token = "md-dev-token"

    /// The tour mapping (``TourFixture``) with the stage repaired automatically and the tour type, and
    /// `extraFields` (YAML lines indented by two spaces) added to its fields.
    static func mappingYAML(extraFields: String = "") -> String {
        TourFixture.mapping(
            stageExtra: ", repair: auto",
            extraFields: """
                  tour_type:
                    master: attributes.tour_type
                    crm: custom_fields.900004
                    transform: {enum: {beach: "501", ski: "502"}}

                """ + extraFields)
    }

    static let fitnessDeliveryYAML = "delivery: {backoff_base: 100ms, backoff_cap: 1s, max_attempts: 6}"

    static func connectorsYAML(
        master: String, amo: String, bitrix: String, amoExtra: String = "", masterExtra: String = "",
        fitnessDelivery: String = fitnessDeliveryYAML, amoPoll: String = "poll: {interval: 1s, overlap: 2s}"
    ) -> [(String, String)] {
        [
            (
                "connectors/fitness.yaml",
                FitnessFixture.connector(
                    url: bitrix, token: applicationToken, extra: ["poll: {interval: 1s, overlap: 2s}", fitnessDelivery])
            ),
            (
                "connectors/masterdeal.yaml",
                TourFixture.masterDeal(url: master, token: token, secret: eventSecret, extra: [masterExtra])
            ),
            ("connectors/tour.yaml", TourFixture.connector(url: amo, secret: webhookSecret, extra: [amoPoll, amoExtra])),
        ]
    }

    struct Options: Sendable {
        var polling = true
        var amo: @Sendable (inout AmoCRMSimulator.Configuration) -> Void = { _ in }
        var bitrix: @Sendable (inout Bitrix24Simulator.Configuration) -> Void = { _ in }
        var amoExtraYAML = "delivery: {backoff_base: 100ms, backoff_cap: 1s, max_attempts: 6}"
        /// The fitness connector's `delivery:` line.
        var fitnessDeliveryYAML = SyncSystem.fitnessDeliveryYAML
        /// The tour connector's `poll:` line.
        var tourPollYAML = "poll: {interval: 1s, overlap: 2s}"
        var gateway: @Sendable (inout Gateway.Options) -> Void = { _ in }
        /// More gateways on the same database, as several `dealsync serve` processes would run; webhooks and
        /// events go to the first.
        var extraGateways = 0
        /// More fields for the tour mapping (YAML, indented two spaces), on the simulator's account as well.
        var tourExtraFields = ""
        /// More fields for the fitness mapping (the portal's user fields come from ``bitrix``).
        var fitnessExtraFields = ""
        /// MasterDeal on a Kafka bus (the mock cluster): its events reach the gateways only through the events
        /// topic, and dealsync's writes to it go to the changes topic.
        var kafka = false
        /// With ``kafka``: every decided change is also published to the decision feed (`decisions: kafka`, topic
        /// ``SyncSystem/decisionsTopic``).
        var decisionFeed = false
    }

    /// The decision feed's topic (``Options/decisionFeed``).
    static let decisionsTopic = "dealsync.decisions"

    /// The topic MasterDeal's events go to on the bus (``MasterDealBus``'s default).
    static let eventsTopic = MasterDealBus.Settings(bootstrapServers: "").eventsTopic

    /// Starts everything, runs `body`, stops everything.
    static func run(_ options: Options = Options(), _ body: @Sendable (SyncSystem) async throws -> Void) async throws {
        let logger = TestPostgres.logger
        let mapping = try ConfigurationLoader(environment: [:])
            .load(connectors: [], mappings: [.init(path: "m.yaml", text: mappingYAML(extraFields: options.tourExtraFields))]).mappings[
                "tour"]!
        var amoConfiguration = AmoCRMSimulator.Configuration(matching: mapping)
        amoConfiguration.webhookTimeScale = 0.001
        amoConfiguration.seed = 7
        options.amo(&amoConfiguration)
        let amo = AmoCRMSimulator(configuration: amoConfiguration)
        var mdConfiguration = MasterDealSimulator.Configuration()
        mdConfiguration.tokens = [token: "dealsync"]
        mdConfiguration.eventTimeScale = 0.01
        let masterDeal = MasterDealSimulator(configuration: mdConfiguration)
        let url = try await TestPostgres.freshDatabaseURL()
        let port = try FreePort.pick()
        let gatewayURL = "http://127.0.0.1:\(port)"
        var bitrixConfiguration = Bitrix24Simulator.Configuration()
        bitrixConfiguration.seedDeals = []
        bitrixConfiguration.eventHandlers = ["ONCRMDEALADD", "ONCRMDEALUPDATE", "ONCRMDEALDELETE", "ONCRMDEALMOVETOCATEGORY"]
            .map { .init(event: $0, url: "\(gatewayURL)/webhooks/fitness") }
        options.bitrix(&bitrixConfiguration)
        let bitrix = Bitrix24Simulator(configuration: bitrixConfiguration)
        let (kafka, bus, busYAML) = try startBus(options.kafka, masterDeal: masterDeal, logger: logger)
        if options.decisionFeed, let kafka { try kafka.createTopic(decisionsTopic, partitions: 4) }
        let masterExtra = busYAML + (options.decisionFeed && kafka != nil ? "\ndecisions: kafka" : "")
        defer { kafka?.shutdown() }
        try await masterDeal.withRunning { masterURL in
            try await bitrix.withRunning { bitrixURL in
                try await amo.withRunning { amoURL in
                    let connectorFiles = connectorsYAML(
                        master: masterURL, amo: amoURL, bitrix: bitrixURL, amoExtra: options.amoExtraYAML, masterExtra: masterExtra,
                        fitnessDelivery: options.fitnessDeliveryYAML, amoPoll: options.tourPollYAML)
                    let mappingFiles = [
                        ("mappings/tour.yaml", mappingYAML(extraFields: options.tourExtraFields)),
                        ("mappings/fitness.yaml", fitnessMappingYAML(extraFields: options.fitnessExtraFields)),
                    ]
                    let configuration = try ConfigurationLoader(environment: [:]).load(
                        connectors: connectorFiles.map { .init(path: $0.0, text: $0.1) },
                        mappings: mappingFiles.map { .init(path: $0.0, text: $0.1) })
                    let configDirectory = NSTemporaryDirectory() + "dealsync-sync-\(UUID().uuidString)"
                    defer { try? FileManager.default.removeItem(atPath: configDirectory) }
                    try writeFiles(connectorFiles + mappingFiles, into: configDirectory)
                    try await Database.withDatabase(url, logger: logger, maximumConnections: 20) { database in
                        var gatewayOptions = Gateway.Options()
                        gatewayOptions.port = port
                        gatewayOptions.polling = options.polling
                        gatewayOptions.relayIdlePoll = .milliseconds(200)
                        gatewayOptions.statsInterval = .milliseconds(500)
                        gatewayOptions.pausedProbe = .seconds(1)
                        gatewayOptions.worker = "gateway-1"
                        options.gateway(&gatewayOptions)
                        let gateway = Gateway(configuration: configuration, database: database, options: gatewayOptions, logger: logger)
                        var others: [Gateway] = []
                        for index in 0..<options.extraGateways {
                            var otherOptions = gatewayOptions
                            otherOptions.port = try FreePort.pick()
                            otherOptions.worker = "gateway-\(index + 2)"
                            others.append(Gateway(configuration: configuration, database: database, options: otherOptions, logger: logger))
                        }
                        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
                        var services = gateway.services { port in continuation.yield(port) }
                        for other in others { services += other.services() }
                        if let bus { services.append(bus) }
                        let group = ServiceGroup(services: services, logger: logger)
                        try await withThrowingTaskGroup(of: Void.self) { tasks in
                            tasks.addTask { try await group.run() }
                            var iterator = ports.makeAsyncIterator()
                            _ = await iterator.next()
                            if bus == nil {
                                masterDeal.setEventTargets([.init(url: "\(gatewayURL)/webhooks/masterdeal", secret: eventSecret)])
                            }
                            try await HTTPClient.shared.post(
                                amoURL + "/api/v4/webhooks", bearer: try await amoAccessToken(amoURL),
                                json:
                                    #"{"destination":"\#(gatewayURL)/webhooks/tour/\#(webhookSecret)","settings":["add_lead","update_lead","status_lead","responsible_lead","delete_lead","restore_lead"]}"#
                            )
                            let system = SyncSystem(
                                masterDeal: masterDeal, amo: amo, bitrix: bitrix, bitrixURL: bitrixURL, masterURL: masterURL,
                                amoURL: amoURL, gatewayURL: gatewayURL, database: database,
                                databaseURL: url.revealedURLString(), gateway: gateway, others: others,
                                configuration: configuration, configDirectory: configDirectory, kafka: kafka, bus: bus)
                            do {
                                try await body(system)
                            } catch {
                                await group.triggerGracefulShutdown()
                                try? await tasks.waitForAll()
                                throw error
                            }
                            await group.triggerGracefulShutdown()
                            try await tasks.waitForAll()
                        }
                    }
                }
            }
        }
    }

    /// The mock cluster with its topics and MasterDeal's side of the bus, and the MasterDeal connector's YAML lines
    /// that point dealsync at it; nothing when `wanted` is false.
    static func startBus(
        _ wanted: Bool, masterDeal: MasterDealSimulator, logger: Logger
    ) throws
        -> (KafkaMockCluster?, MasterDealBus?, String)
    {
        guard wanted else { return (nil, nil, "") }
        let (cluster, bus) = try MasterDealBus.onMockCluster(masterDeal, logger: logger)
        return (cluster, bus, bus.connectorYAML)
    }

    /// A token for test-side API calls (the webhook subscription), from an authorization code.
    static func amoAccessToken(_ amoURL: String) async throws -> String {
        let code = try await HTTPClient.shared.postJSON(amoURL + "/_sim/oauth/authorize", json: "{}")["code"]?.string ?? ""
        let tokens = try await HTTPClient.shared.postJSON(
            amoURL + "/oauth2/access_token",
            json: """
                {"client_id":"5f1c9a52-7d3e-4b8a-9c61-2e0d4f7b8a19","client_secret":"sim-client-secret-0f4e8d2c7b6a",
                 "grant_type":"authorization_code","code":"\(code)","redirect_uri":"https://dealsync.example/oauth/amocrm"}
                """)
        return tokens["access_token"]?.string ?? ""
    }

    /// Waits until `condition` holds, checking every 100 ms, for at most `timeout`.
    func eventually(_ what: String, timeout: Duration = .seconds(20), _ condition: @Sendable () async throws -> Bool) async throws {
        try await DealSyncTestSupport.eventually(what, timeout: timeout, condition)
    }
}

extension HTTPClient {
    @discardableResult
    func post(_ url: String, bearer: String? = nil, json: String) async throws -> (Int, String) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        request.body = .bytes(ByteBuffer(string: json))
        let response = try await execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 22)
        return (Int(response.status.code), String(buffer: body))
    }

    func postJSON(_ url: String, json: String) async throws -> JSONValue {
        let (_, body) = try await post(url, json: json)
        return JSONValue.parse(Data(body.utf8)) ?? .null
    }

    func send(_ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], body: String? = nil) async throws -> (Int, String) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await execute(request, timeout: .seconds(10))
        let data = try await response.body.collect(upTo: 1 << 22)
        return (Int(response.status.code), String(buffer: data))
    }
}

extension SyncSystem {
    /// Runs the built `dealsync` binary against this system's database (and, for commands that read the
    /// configuration, its config directory), as support or on-call would.
    func cli(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        let needsConfig = ["dlq replay", "drift show", "drift repair", "drift sweep", "explain", "connector", "history", "onboard"]
            .contains { arguments.joined(separator: " ").hasPrefix($0) }
        return try await ChildProgram.run(
            try Repository.dealsyncBinary(),
            arguments + ["--database-url", databaseURL]
                + (needsConfig ? ["--config", configDirectory] : []))
    }

    /// Starts the built `dealsync` binary against this system's database and config directory, to stop it midway.
    func startCLI(_ arguments: [String]) throws -> ChildProgram {
        try ChildProgram(try Repository.dealsyncBinary(), arguments + ["--database-url", databaseURL, "--config", configDirectory])
    }

    /// Field state, divergence log and outbox, for a failing test's output.
    func dump() async throws -> String {
        var lines: [String] = []
        for query in [
            "SELECT link_id || ' ' || states FROM link_fields ORDER BY link_id",
            "SELECT kind || ' ' || coalesce(field,'') || ' ' || coalesce(master_value::text,'') || ' ' || coalesce(crm_value::text,'') || ' ' || outcome FROM divergence_log ORDER BY id",
            "SELECT id || ' ' || target || ' ' || status || ' ' || payload::text || ' ' || attempt_log::text FROM outbox ORDER BY id",
            "SELECT id || ' ' || connector || ' ' || source || ' ' || status || ' ' || coalesce(error,'') || ' ' || convert_from(body, 'UTF8') FROM inbox ORDER BY id",
        ] {
            let rows = try await database.client.query(PostgresQuery(unsafeSQL: query))
            for try await line in rows.decode(String.self) { lines.append(line) }
            lines.append("--")
        }
        return lines.joined(separator: "\n")
    }
}
