import ArgumentParser
import DealSyncCore
import DealSyncSimulators
import Foundation
import Logging

struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run a faithful MasterDeal, amoCRM or Bitrix24 simulator on loopback (for trying dealsync out, tests and benchmarks).",
        subcommands: [MasterDeal.self, AmoCRM.self, Bitrix24.self, Kafka.self])

    struct Common: ParsableArguments {
        @Option(help: "Address to listen on.") var host = "127.0.0.1"
        @Option(help: "Port to listen on (0 picks a free one).") var port = 0
    }

    /// Standing in for a configured connector.
    struct StandIn: ParsableArguments {
        @Option(
            help:
                "Stand in for this connector of <config>/connectors: its mapping's shape, its credentials (${ENV} resolved as serve does).")
        var connector: String?
        @Option(
            help: "With --connector: the gateway's address (e.g. http://127.0.0.1:8080); the connector's webhook URL there is subscribed.")
        var gateway: String?

        /// The connector and its mapping, or why they cannot be simulated as `kind`.
        func load(_ config: ConfigOptions, kind: ConnectorKind, conflicting: [(String, Bool)]) throws -> (ConnectorConfig, Mapping)? {
            guard let id = connector else {
                if gateway != nil { throw CLIError("--gateway needs --connector") }
                return nil
            }
            let given = conflicting.filter(\.1).map(\.0)
            guard given.isEmpty else {
                throw CLIError(
                    "--connector takes the credentials and the shape from the connector's configuration; drop \(given.joined(separator: ", "))"
                )
            }
            if let gateway, !(gateway.hasPrefix("http://") || gateway.hasPrefix("https://")) {
                throw CLIError("--gateway must be an http:// or https:// address, not \(gateway)")
            }
            let loaded = try config.loadOrExit()
            guard let connector = loaded.connector(id) else {
                let known = loaded.connectors.map(\.id).sorted().joined(separator: ", ")
                throw CLIError("no connector named \(id) in \(config.directory)/connectors (there are: \(known))")
            }
            guard connector.kind == kind else {
                throw CLIError(
                    "connector \(id) is of kind \(connector.kind.rawValue): run dealsync simulate \(connector.kind.rawValue) --connector \(id)"
                )
            }
            guard let mapping = loaded.mapping(for: connector) else { throw CLIError("connector \(id) has no mapping") }
            return (connector, mapping)
        }

        static func announce(_ what: String, url: String, notes: [String]) {
            print("\(what) listening on \(url) (control routes under \(url)/_sim/)")
            print("accepts:")
            for note in notes { print("  - \(note)") }
        }
    }

    struct MasterDeal: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "masterdeal",
            abstract: "The MasterDeal API of contracts/masterdeal.openapi.yaml, in memory, sending signed events.")
        @OptionGroup var common: Common
        @Option(help: "A JSON file of deals to start with (an array, or {\"items\": [...]}).") var seed: String?
        @Option(help: "Where to POST events (e.g. http://127.0.0.1:8080/webhooks/masterdeal).") var eventURL: String?
        @Option(help: "The secret events are signed with.") var eventSecret = "demo-masterdeal-event-secret"
        @Option(help: "A bearer token accepted for the client named dealsync.") var token = "demo-masterdeal-token"
        @Option(help: "Also publish events to, and apply DealChangeRequested events from, this Kafka cluster (host:port,…).")
        var kafka: String?
        @Option(help: "With --kafka: the topic events are published to.") var eventsTopic = "masterdeal.deal-events"
        @Option(help: "With --kafka: the topic dealsync's changes are read from.") var changesTopic = "dealsync.crm-changes"

        func run() async throws {
            var configuration = MasterDealSimulator.Configuration()
            configuration.tokens = [token: "dealsync"]
            if let eventURL { configuration.eventTargets = [.init(url: eventURL, secret: eventSecret)] }
            if let seed { configuration.seedDeals = try MasterDealSimulator.loadSeedDeals(from: seed) }
            let simulator = MasterDealSimulator(configuration: configuration)
            let logger = Logger(label: "masterdeal-simulator")
            var services = simulator.services
            if let kafka {
                var settings = MasterDealBus.Settings(bootstrapServers: kafka)
                settings.eventsTopic = eventsTopic
                settings.changesTopic = changesTopic
                services.append(try MasterDealBus(simulator: simulator, settings: settings, logger: logger))
            }
            try await SimulatorHost.runForever(
                router: simulator.makeRouter(), services: services, host: common.host,
                port: common.port, logger: logger
            ) { url in
                print("MasterDeal simulator listening on \(url) (control routes under \(url)/_sim/)")
                if let kafka { print("publishing events to \(eventsTopic) and applying changes from \(changesTopic) on \(kafka)") }
            }
        }
    }

    struct Kafka: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "kafka",
            abstract: "A Kafka cluster on loopback (librdkafka's mock cluster) with the bus's topics, and routes to take brokers down.")
        @OptionGroup var common: Common
        @Option(help: "How many brokers.") var brokers = 3
        @Option(help: "A topic to create, as name or name:partitions (repeatable; default: the bus's two topics, 4 partitions each).")
        var topic: [String] = []

        func run() async throws {
            guard (1...16).contains(brokers) else { throw CLIError("--brokers must be between 1 and 16") }
            var topics: [KafkaClusterSimulator.Topic] = []
            for text in topic {
                guard let parsed = KafkaClusterSimulator.Topic(argument: text) else {
                    throw CLIError("--topic \(text): expected name or name:partitions (1 to 1000)")
                }
                topics.append(parsed)
            }
            if topics.isEmpty {
                topics = [.init(name: "masterdeal.deal-events", partitions: 4), .init(name: "dealsync.crm-changes", partitions: 4)]
            }
            let logger = Logger(label: "kafka-simulator")
            let simulator = try KafkaClusterSimulator(brokers: brokers, topics: topics, logger: logger)
            try await SimulatorHost.runForever(
                router: simulator.makeRouter(), services: [], host: common.host, port: common.port, logger: logger
            ) { url in
                print("Kafka cluster bootstrap: \(simulator.bootstrapServers)")
                print("topics: \(simulator.topics.map { "\($0.name) (\($0.partitions) partitions)" }.joined(separator: ", "))")
                print(
                    "control routes under \(url)/_sim/ (GET /_sim/cluster, POST /_sim/brokers/{id}/down|up, "
                        + "POST /_sim/topics/{topic}/partitions/{n}/leader/{broker})")
            }
        }
    }

    struct AmoCRM: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "amocrm",
            abstract: "amoCRM API v4 with OAuth, the 7 requests/s limit and v2 webhooks; shaped by a mapping when given.")
        @OptionGroup var common: Common
        @OptionGroup var config: ConfigOptions
        @Option(help: "Shape the account (pipeline, statuses, users, custom fields) like this mapping in <config>/mappings.")
        var mapping: String?
        @Option(help: "Subscribe this URL to every lead event (e.g. http://127.0.0.1:8080/webhooks/tour-amocrm/<secret>).")
        var webhookURL: String?
        @Option(help: "Multiply amoCRM's webhook retry delays (5 min, 15 min, …) by this.") var timeScale = 1.0
        @OptionGroup var standIn: StandIn

        func run() async throws {
            if let (connector, mapping) = try standIn.load(
                config, kind: .amocrm, conflicting: [("--mapping", mapping != nil), ("--webhook-url", webhookURL != nil)])
            {
                let standing: ConnectorStandIn<AmoCRMSimulator.Configuration>
                do {
                    standing = try AmoCRMSimulator.Configuration.standIn(for: connector, mapping: mapping, gateway: standIn.gateway)
                } catch {
                    throw CLIError(error.description)
                }
                var configuration = standing.configuration
                configuration.webhookTimeScale = timeScale
                let simulator = AmoCRMSimulator(configuration: configuration)
                try await SimulatorHost.runForever(
                    router: simulator.makeRouter(), services: simulator.services, host: common.host,
                    port: common.port, logger: Logger(label: "amocrm-simulator")
                ) { url in
                    StandIn.announce("amoCRM simulator for connector \(connector.id)", url: url, notes: standing.notes(listeningOn: url))
                }
                return
            }
            var configuration = AmoCRMSimulator.Configuration()
            if let name = mapping {
                let loaded = try config.loadOrExit()
                guard let mapping = loaded.mappings[name] else { throw CLIError("no mapping named \(name)") }
                configuration = AmoCRMSimulator.Configuration(matching: mapping)
            }
            if let webhookURL { configuration.webhooks = [webhookURL] }
            configuration.webhookTimeScale = timeScale
            let simulator = AmoCRMSimulator(configuration: configuration)
            try await SimulatorHost.runForever(
                router: simulator.makeRouter(), services: simulator.services, host: common.host,
                port: common.port, logger: Logger(label: "amocrm-simulator")
            ) { url in
                print("amoCRM simulator listening on \(url) (control routes under \(url)/_sim/)")
            }
        }
    }

    struct Bitrix24: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "bitrix24",
            abstract:
                "Bitrix24 REST (crm.deal.*, batch, user.get, metadata) with the leaky-bucket and operating-time limits and id-only events.")
        @OptionGroup var common: Common
        @Option(
            help:
                "Send the deal events (ONCRMDEALADD, …UPDATE, …DELETE, …MOVETOCATEGORY) to this URL (e.g. http://127.0.0.1:8080/webhooks/fitness-bitrix24)."
        )
        var eventURL: String?
        @Option(help: "The application token events carry (auth[application_token]).") var applicationToken: String?
        @Option(help: "The inbound-webhook code accepted for user 1 (/rest/1/<code>/).") var webhookCode: String?
        @Flag(help: "Start with an empty portal instead of the sample deals.") var empty = false
        @OptionGroup var config: ConfigOptions
        @OptionGroup var standIn: StandIn

        func run() async throws {
            let conflicting = [
                ("--event-url", eventURL != nil), ("--application-token", applicationToken != nil), ("--webhook-code", webhookCode != nil),
            ]
            if let (connector, mapping) = try standIn.load(config, kind: .bitrix24, conflicting: conflicting) {
                let standing: ConnectorStandIn<Bitrix24Simulator.Configuration>
                do {
                    standing = try Bitrix24Simulator.Configuration.standIn(for: connector, mapping: mapping, gateway: standIn.gateway)
                } catch {
                    throw CLIError(error.description)
                }
                let simulator = Bitrix24Simulator(configuration: standing.configuration)
                try await SimulatorHost.runForever(
                    router: simulator.makeRouter(), services: simulator.services, host: common.host,
                    port: common.port, logger: Logger(label: "bitrix24-simulator")
                ) { url in
                    StandIn.announce("Bitrix24 simulator for connector \(connector.id)", url: url, notes: standing.notes(listeningOn: url))
                }
                return
            }
            var configuration = Bitrix24Simulator.Configuration()
            if let applicationToken { configuration.applicationToken = applicationToken }
            if let webhookCode { configuration.webhooks = [.init(userID: 1, code: webhookCode)] }
            if let eventURL { configuration.eventHandlers = Bitrix24Simulator.Configuration.EventHandler.dealEvents(to: eventURL) }
            if empty { configuration.seedDeals = [] }
            let simulator = Bitrix24Simulator(configuration: configuration)
            try await SimulatorHost.runForever(
                router: simulator.makeRouter(), services: simulator.services, host: common.host,
                port: common.port, logger: Logger(label: "bitrix24-simulator")
            ) { url in
                print("Bitrix24 simulator listening on \(url) (REST under \(url)/rest/, control routes under \(url)/_sim/)")
            }
        }
    }
}
