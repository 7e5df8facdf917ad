import ArgumentParser
import DealSyncCore
import DealSyncSimulators
import Foundation
import Logging

struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run a faithful MasterDeal or amoCRM simulator on loopback (for trying dealsync out, tests and benchmarks).",
        subcommands: [MasterDeal.self, AmoCRM.self])

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
}
