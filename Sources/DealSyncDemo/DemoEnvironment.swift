import DealSyncCore
import DealSyncSimulators
import DealSyncStore
import Foundation

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
        configuration.eventTargets = [.init(url: "http://127.0.0.1:\(gatewayPort)/webhooks/masterdeal", secret: value("MASTERDEAL_EVENT_SECRET"))]
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

struct DemoError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
