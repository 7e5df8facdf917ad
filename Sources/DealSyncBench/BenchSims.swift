import DealSyncCore
import DealSyncSimulators
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import UnixSignals

/// `dealsync-bench sims`: the simulators of a benchmark run in a process of their own — MasterDeal (sending its
/// events to the gateway) and two amoCRM accounts, A and B, each with leads made beforehand so dealsync's writes
/// back to them land on real leads. Prints one line of JSON with their URLs and the leads' ids, then runs until
/// SIGTERM.
enum BenchSims {
    struct Ready: Codable {
        var master: String
        var amoA: String
        var amoB: String
        var leadsA: [Int]
        var leadsB: [Int]
    }

    static func run(arguments: [String]) async throws {
        let option = { (name: String) in Self.option(name, in: arguments) }
        guard let directory = option("config"), let gatewayPort = option("gateway-port").flatMap(Int.init) else {
            throw BenchError("usage: dealsync-bench sims --config DIR --gateway-port PORT [--leads-a N] [--leads-b N]")
        }
        let environment = BenchConfig.environment(directory: directory)
        let mapping = try BenchConfig.mapping(directory: directory, environment: environment)
        var master = MasterDealSimulator.Configuration()
        master.tokens = [environment["MASTERDEAL_TOKEN"] ?? "": "dealsync"]
        master.eventTargets = [
            .init(url: "http://127.0.0.1:\(gatewayPort)/webhooks/masterdeal", secret: environment["MASTERDEAL_EVENT_SECRET"] ?? "")
        ]
        let masterDeal = MasterDealSimulator(configuration: master)
        let amoA = AmoCRMSimulator(configuration: amoConfiguration(mapping: mapping, prefix: "TOUR_A", environment: environment))
        let amoB = AmoCRMSimulator(configuration: amoConfiguration(mapping: mapping, prefix: "TOUR_B", environment: environment))
        let leadsA = try makeLeads(amoA, count: option("leads-a").flatMap(Int.init) ?? 1000)
        let leadsB = try makeLeads(amoB, count: option("leads-b").flatMap(Int.init) ?? 1000)
        let quiet = Logger(label: "bench-sims", factory: { _ in SwiftLogNoOpLogHandler() })
        try await masterDeal.withRunning { masterURL in
            try await amoA.withRunning { amoAURL in
                try await amoB.withRunning { amoBURL in
                    let ready = Ready(master: masterURL, amoA: amoAURL, amoB: amoBURL, leadsA: leadsA, leadsB: leadsB)
                    print(String(decoding: try JSONEncoder().encode(ready), as: UTF8.self))
                    fflush(nil)
                    let group = ServiceGroup(services: [Forever()], gracefulShutdownSignals: [.sigterm, .sigint], logger: quiet)
                    try await group.run()
                }
            }
        }
    }

    /// The value after `--name` in `arguments`.
    static func option(_ name: String, in arguments: [String]) -> String? {
        arguments.firstIndex(of: "--\(name)").flatMap { arguments.indices.contains($0 + 1) ? arguments[$0 + 1] : nil }
    }

    static func amoConfiguration(mapping: Mapping, prefix: String, environment: [String: String]) -> AmoCRMSimulator.Configuration {
        let oauth = AmoCRMSimulator.OAuth(
            clientID: environment["\(prefix)_CLIENT_ID"] ?? "", clientSecret: environment["\(prefix)_CLIENT_SECRET"] ?? "",
            redirectURI: "https://dealsync.example/oauth/amocrm", refreshToken: environment["\(prefix)_REFRESH_TOKEN"] ?? "")
        var configuration = AmoCRMSimulator.Configuration(matching: mapping, subdomain: prefix.lowercased(), oauth: oauth)
        configuration.seed = 2026
        return configuration
    }

    /// Leads a salesperson made before the run (no webhook is subscribed: the load generator sends them), each
    /// holding what the load's webhook for it announces (``AmoLoad/body(leadID:now:)``), which names it by its id.
    static func makeLeads(_ amo: AmoCRMSimulator, count: Int) throws -> [Int] {
        try (0..<count).map { _ in
            let id = try amo.createAsSalesperson(userID: AmoLoad.userID, AmoLeadFields(name: "Bench lead")).id
            let fields = AmoLeadFields(
                name: AmoLoad.name(leadID: id), price: AmoLoad.price(leadID: id), statusID: AmoLoad.statusID,
                pipelineID: AmoLoad.pipelineID, responsibleUserID: AmoLoad.userID)
            return try amo.editAsSalesperson(leadID: id, userID: AmoLoad.userID, fields).id
        }
    }

    /// Keeps the group alive until a signal.
    struct Forever: Service {
        func run() async throws { try await gracefulShutdown() }
    }
}
