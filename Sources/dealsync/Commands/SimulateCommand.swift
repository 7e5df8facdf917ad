import ArgumentParser
import DealSyncCore
import DealSyncSimulators
import Foundation
import Logging

struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run a faithful MasterDeal, amoCRM or Bitrix24 simulator on loopback (for trying dealsync out, tests and benchmarks).",
        subcommands: [MasterDeal.self, AmoCRM.self, Bitrix24.self])

    struct Common: ParsableArguments {
        @Option(help: "Address to listen on.") var host = "127.0.0.1"
        @Option(help: "Port to listen on (0 picks a free one).") var port = 0
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

        func run() async throws {
            var configuration = MasterDealSimulator.Configuration()
            configuration.tokens = [token: "dealsync"]
            if let eventURL { configuration.eventTargets = [.init(url: eventURL, secret: eventSecret)] }
            if let seed { configuration.seedDeals = try MasterDealSimulator.loadSeedDeals(from: seed) }
            let simulator = MasterDealSimulator(configuration: configuration)
            try await SimulatorHost.runForever(router: simulator.makeRouter(), services: simulator.services, host: common.host,
                                               port: common.port, logger: Logger(label: "masterdeal-simulator")) { url in
                print("MasterDeal simulator listening on \(url) (control routes under \(url)/_sim/)")
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

        func run() async throws {
            var configuration = AmoCRMSimulator.Configuration()
            if let name = mapping {
                let loaded = try config.loadOrExit()
                guard let mapping = loaded.mappings[name] else { throw CLIError("no mapping named \(name)") }
                configuration = AmoCRMSimulator.Configuration(matching: mapping)
            }
            if let webhookURL { configuration.webhooks = [webhookURL] }
            configuration.webhookTimeScale = timeScale
            let simulator = AmoCRMSimulator(configuration: configuration)
            try await SimulatorHost.runForever(router: simulator.makeRouter(), services: simulator.services, host: common.host,
                                               port: common.port, logger: Logger(label: "amocrm-simulator")) { url in
                print("amoCRM simulator listening on \(url) (control routes under \(url)/_sim/)")
            }
        }
    }

    struct Bitrix24: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "bitrix24",
            abstract: "Bitrix24 REST (crm.deal.*, batch, user.get, metadata) with the leaky-bucket and operating-time limits and id-only events.")
        @OptionGroup var common: Common
        @Option(help: "Send the deal events (ONCRMDEALADD, …UPDATE, …DELETE, …MOVETOCATEGORY) to this URL (e.g. http://127.0.0.1:8080/webhooks/fitness-bitrix24).")
        var eventURL: String?
        @Option(help: "The application token events carry (auth[application_token]).") var applicationToken: String?
        @Option(help: "The inbound-webhook code accepted for user 1 (/rest/1/<code>/).") var webhookCode: String?
        @Flag(help: "Start with an empty portal instead of the sample deals.") var empty = false

        func run() async throws {
            var configuration = Bitrix24Simulator.Configuration()
            if let applicationToken { configuration.applicationToken = applicationToken }
            if let webhookCode { configuration.webhooks = [.init(userID: 1, code: webhookCode)] }
            if let eventURL { configuration.eventHandlers = Bitrix24Simulator.Configuration.EventHandler.dealEvents(to: eventURL) }
            if empty { configuration.seedDeals = [] }
            let simulator = Bitrix24Simulator(configuration: configuration)
            try await SimulatorHost.runForever(router: simulator.makeRouter(), services: simulator.services, host: common.host,
                                               port: common.port, logger: Logger(label: "bitrix24-simulator")) { url in
                print("Bitrix24 simulator listening on \(url) (REST under \(url)/rest/, control routes under \(url)/_sim/)")
            }
        }
    }
}
