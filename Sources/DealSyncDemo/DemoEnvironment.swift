import DealSyncCore
import DealSyncSimulators
import Foundation

/// The shipped configuration with the simulators' URLs put in, and simulators shaped to match it.
struct DemoEnvironment: Sendable {
    let directory: String
    let values: [String: String]
    let gatewayPort: Int

    init(directory: String, gatewayPort: Int) throws {
        self.directory = directory
        self.gatewayPort = gatewayPort == 0 ? try FreePort.pick() : gatewayPort
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

    func value(_ name: String) -> String { values[name] ?? "" }

    var amoWebhookSecret: String { value("TOUR_AMOCRM_WEBHOOK_SECRET") }

    func mapping(_ name: String) throws -> Mapping {
        let configuration = try ConfigurationLoader(environment: values).load(directory: directory)
        guard let mapping = configuration.mappings[name] else { throw DemoError("the demo needs mappings/\(name).yaml") }
        return mapping
    }

    func configuration(masterURL: String, amoURL: String, bitrixURL: String) throws -> Configuration {
        var values = self.values
        values["MASTERDEAL_URL"] = masterURL
        values["TOUR_AMOCRM_URL"] = amoURL
        values["FITNESS_BITRIX24_URL"] = bitrixURL
        return try ConfigurationLoader(environment: values).load(directory: directory)
    }

    func bitrixConfiguration() -> Bitrix24Simulator.Configuration {
        var configuration = Bitrix24Simulator.Configuration()
        configuration.seedDeals = []
        configuration.applicationToken = value("FITNESS_BITRIX24_APP_TOKEN")
        configuration.webhooks = [.init(userID: 1, code: value("FITNESS_BITRIX24_WEBHOOK_CODE"))]
        configuration.eventHandlers = ["ONCRMDEALADD", "ONCRMDEALUPDATE", "ONCRMDEALDELETE", "ONCRMDEALMOVETOCATEGORY"]
            .map { .init(event: $0, url: "http://127.0.0.1:\(gatewayPort)/webhooks/fitness-bitrix24") }
        return configuration
    }

    func masterDealConfiguration() -> MasterDealSimulator.Configuration {
        var configuration = MasterDealSimulator.Configuration()
        configuration.tokens = [value("MASTERDEAL_TOKEN"): "dealsync"]
        configuration.eventTargets = [.init(url: "http://127.0.0.1:\(gatewayPort)/webhooks/masterdeal", secret: value("MASTERDEAL_EVENT_SECRET"))]
        configuration.eventTimeScale = 0.05
        return configuration
    }

    func amoConfiguration(mapping: Mapping) -> AmoCRMSimulator.Configuration {
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

/// Picks a free loopback port for the gateway, so the simulators can be told where to send webhooks first.
enum FreePort {
    static func pick() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DemoError("cannot open a socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw DemoError("cannot bind a loopback port") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
