import DealSyncCore
import DealSyncSimulators
import DealSyncStore
import Foundation
import Logging

/// The shipped configuration with the simulators' URLs put in, and simulators shaped to match it (the demo and
/// the benchmark).
public struct DemoEnvironment: Sendable {
    public let directory: String
    public let values: [String: String]
    public let gatewayPort: Int

    public init(directory: String, gatewayPort: Int) throws {
        self.directory = directory
        self.gatewayPort = gatewayPort == 0 ? try EmbeddedPostgres.freePort() : gatewayPort
        var values: [String: String] = [:]
        let file = directory == "." ? "dealsync.env" : "\(directory)/dealsync.env"
        if let text = try? String(contentsOfFile: file, encoding: .utf8) { values = EnvironmentFile.parse(text) }
        values.merge(ProcessInfo.processInfo.environment) { _, process in process }
        // The demo shows a dead letter within seconds rather than after ten attempts over minutes.
        values["TOUR_AMOCRM_MAX_ATTEMPTS"] = "4"
        values["TOUR_AMOCRM_BACKOFF_BASE"] = "200ms"
        values["TOUR_AMOCRM_BACKOFF_CAP"] = "1s"
        // MasterDeal sends no event for an amount change: the poller finds it, every 2 s in the demo.
        values["MASTERDEAL_POLL_INTERVAL"] = "2s"
        self.values = values
    }

    public func value(_ name: String) -> String { values[name] ?? "" }

    public var amoWebhookSecret: String { value("TOUR_AMOCRM_WEBHOOK_SECRET") }

    public func mapping(_ name: String) throws -> Mapping {
        let configuration = try ConfigurationLoader(environment: values).load(directory: directory)
        guard let mapping = configuration.mappings[name] else { throw DemoError("the demo needs mappings/\(name).yaml") }
        return mapping
    }

    public func configuration(masterURL: String, amoURL: String, bitrixURL: String) throws -> Configuration {
        var values = self.values
        values["MASTERDEAL_URL"] = masterURL
        values["TOUR_AMOCRM_URL"] = amoURL
        values["FITNESS_BITRIX24_URL"] = bitrixURL
        return try ConfigurationLoader(environment: values).load(directory: directory)
    }

    public func bitrixConfiguration() -> Bitrix24Simulator.Configuration {
        var configuration = Bitrix24Simulator.Configuration()
        configuration.seedDeals = []
        configuration.applicationToken = value("FITNESS_BITRIX24_APP_TOKEN")
        configuration.webhooks = [.init(userID: 1, code: value("FITNESS_BITRIX24_WEBHOOK_CODE"))]
        configuration.eventHandlers = ["ONCRMDEALADD", "ONCRMDEALUPDATE", "ONCRMDEALDELETE", "ONCRMDEALMOVETOCATEGORY"]
            .map { .init(event: $0, url: "http://127.0.0.1:\(gatewayPort)/webhooks/fitness-bitrix24") }
        return configuration
    }

    public func masterDealConfiguration() -> MasterDealSimulator.Configuration {
        var configuration = MasterDealSimulator.Configuration()
        configuration.tokens = [value("MASTERDEAL_TOKEN"): "dealsync"]
        configuration.eventTargets = [
            .init(url: "http://127.0.0.1:\(gatewayPort)/webhooks/masterdeal", secret: value("MASTERDEAL_EVENT_SECRET"))
        ]
        configuration.eventTimeScale = 0.05
        return configuration
    }

    public func amoConfiguration(mapping: Mapping) -> AmoCRMSimulator.Configuration {
        let oauth = AmoCRMSimulator.OAuth(
            clientID: value("TOUR_AMOCRM_CLIENT_ID"), clientSecret: value("TOUR_AMOCRM_CLIENT_SECRET"),
            redirectURI: "https://dealsync.example/oauth/amocrm", refreshToken: value("TOUR_AMOCRM_REFRESH_TOKEN"))
        var configuration = AmoCRMSimulator.Configuration(matching: mapping, subdomain: "touragency", oauth: oauth)
        configuration.webhooks = ["http://127.0.0.1:\(gatewayPort)/webhooks/tour-amocrm/\(amoWebhookSecret)"]
        configuration.webhookTimeScale = 0.01
        configuration.seed = 2026
        return configuration
    }
}

extension DemoEnvironment {
    /// The three simulators shaped by the shipped configuration, running on loopback, the configuration pointed at
    /// them, and a migrated database on `cluster`: the stage the demo and the benchmark both play on.
    public struct Stage: Sendable {
        public let masterDeal: MasterDealSimulator
        public let amo: AmoCRMSimulator
        public let bitrix: Bitrix24Simulator
        public let masterURL: String
        public let amoURL: String
        public let bitrixURL: String
        /// The tour agency's mapping (the amoCRM simulator's account is shaped after it).
        public let mapping: Mapping
        public let configuration: Configuration
        public let database: Database
    }

    public func withStage<T: Sendable>(cluster: DatabaseURL, logger: Logger, _ body: @Sendable (Stage) async throws -> T) async throws -> T
    {
        let tour = try mapping("tour-agency")
        let masterDeal = MasterDealSimulator(configuration: masterDealConfiguration())
        let amo = AmoCRMSimulator(configuration: amoConfiguration(mapping: tour))
        let bitrix = Bitrix24Simulator(configuration: bitrixConfiguration())
        return try await masterDeal.withRunning(port: 0) { masterURL in
            try await bitrix.withRunning(port: 0) { bitrixURL in
                try await amo.withRunning(port: 0) { amoURL in
                    let configuration = try self.configuration(masterURL: masterURL, amoURL: amoURL, bitrixURL: bitrixURL)
                    return try await Database.withDatabase(cluster, logger: logger, maximumConnections: 20) { database in
                        _ = try await Migrator(logger: logger).migrate(database)
                        return try await body(
                            Stage(
                                masterDeal: masterDeal, amo: amo, bitrix: bitrix, masterURL: masterURL, amoURL: amoURL,
                                bitrixURL: bitrixURL, mapping: tour, configuration: configuration, database: database))
                    }
                }
            }
        }
    }
}

struct DemoError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
