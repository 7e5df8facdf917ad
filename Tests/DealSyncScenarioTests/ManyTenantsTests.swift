import AsyncHTTPClient
import DealSyncCore
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// A studio's deployment: twelve small businesses, each with an amoCRM account of its own (one simulator process
/// hosting all twelve), one MasterDeal, and three `dealsync serve` processes on one database. The connector lanes
/// spread evenly over the processes, and when one is SIGKILLed the survivors run all twelve; every lead and deal
/// made before, during and after crosses once.
struct ManyTenantsTests {
    static let tenants = (1...12).map { String(format: "tenant-%02d", $0) }
    static let token = "many-tenants-masterdeal-token"

    /// One serve process: its program and its worker name's pid part.
    struct Serve {
        var program: ChildProgram
        var port: Int
    }

    @Test func lanesSpreadOverThreeProcessesAndTheSurvivorsRunThemAllAfterSIGKILL() async throws {
        let binary = try Repository.dealsyncBinary()
        let databaseURL = try await TestPostgres.freshDatabaseURL(migrated: false)
        let mapping = try ConfigurationLoader(environment: [:])
            .load(connectors: [], mappings: [.init(path: "mappings/tour.yaml", text: Scenario.mappingYAML)]).mappings["tour"]!
        var masterConfiguration = MasterDealSimulator.Configuration()
        masterConfiguration.tokens = [Self.token: "dealsync"]
        let masterDeal = MasterDealSimulator(configuration: masterConfiguration)
        let accounts = try SimulatedAccounts(
            amoCRM: Self.tenants.map { tenant in
                var configuration = AmoCRMSimulator.Configuration(matching: mapping, subdomain: tenant)
                configuration.seed = 5
                configuration.webhooks = []  // polling finds every change
                return configuration
            })
        let directory = NSTemporaryDirectory() + "dealsync-tenants-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }

        try await masterDeal.withRunning { masterURL in
            try await accounts.withRunning { amoURL in
                try Self.writeConfiguration(to: directory, masterURL: masterURL, amoURL: amoURL)
                var serves: [Serve] = []
                defer { for serve in serves { serve.program.signal(SIGKILL) } }
                func start() async throws -> Serve {
                    let port = try FreePort.pick()
                    let program = try ChildProgram(
                        binary,
                        [
                            "serve", "--config", directory, "--env-file", "/dev/null", "--host", "127.0.0.1", "--port", String(port),
                            "--database-url", databaseURL.revealedURLString(),
                        ])
                    let serve = Serve(program: program, port: port)
                    serves.append(serve)
                    try await eventually("serve \(serves.count) is ready", timeout: .seconds(30)) {
                        if let status = program.poll() { throw ChildProgramError("serve exited with \(status):\n\(program.stderr)") }
                        return (try? await Self.ready(port: port)) == true
                    }
                    return serve
                }
                func makeLeads(_ round: String) throws {
                    for tenant in Self.tenants {
                        _ = try accounts[tenant]!.createAsSalesperson(
                            userID: Scenario.olga,
                            AmoLeadFields(
                                name: "\(tenant) \(round)", price: 30_000, statusID: 7_001_002, pipelineID: Scenario.pipeline,
                                responsibleUserID: Scenario.olga))
                    }
                }
                func makeDeals(_ round: String) throws {
                    for tenant in Self.tenants {
                        _ = try masterDeal.createAsUser(
                            .object([
                                "account_id": .string("acc-\(tenant)"), "opportunity_name": .string("MD \(tenant) \(round)"),
                                "stage": .string("lead"), "amount": .string("45000.00"), "currency": .string("RUB"),
                                "owner_id": .string("u-ivan"),
                            ]))
                    }
                }
                do {
                    let first = try await start()
                    try await eventually("the first process runs all thirteen lanes", timeout: .seconds(40)) {
                        try await Self.lanes(binary: binary, directory: directory, databaseURL: databaseURL) == [first.program.pid: 13]
                    }
                    try makeLeads("before")
                    let second = try await start()
                    let third = try await start()
                    try await eventually("three processes share the lanes evenly", timeout: .seconds(60)) {
                        let counts = try await Self.lanes(binary: binary, directory: directory, databaseURL: databaseURL)
                        return counts.values.reduce(0, +) == 13 && counts.count == 3 && counts.values.allSatisfy { $0 <= 5 }
                    }
                    try makeDeals("spread")

                    third.program.signal(SIGKILL)
                    _ = await third.program.wait()
                    try makeLeads("after")
                    try await eventually("the two survivors run every lane", timeout: .seconds(60)) {
                        let counts = try await Self.lanes(binary: binary, directory: directory, databaseURL: databaseURL)
                        return counts.values.reduce(0, +) == 13 && Set(counts.keys) == [first.program.pid, second.program.pid]
                            && counts.values.allSatisfy { $0 <= 7 }
                    }
                    try makeDeals("survivors")

                    // Every lead reached MasterDeal once, and every deal reached its own tenant's account once.
                    try await eventually("every record crossed", timeout: .seconds(90)) {
                        let fromCRM = masterDeal.allDeals().filter { !$0.opportunityName.hasPrefix("MD ") }
                        let toCRM = Self.tenants.map { tenant in
                            accounts[tenant]!.allLeads(includingDeleted: false).filter { $0.name.hasPrefix("MD \(tenant) ") }.count
                        }
                        return fromCRM.count == 24 && toCRM.allSatisfy { $0 == 2 }
                    }
                    let names = masterDeal.allDeals().map(\.opportunityName)
                    #expect(names.count == 48)
                    #expect(Set(names).count == 48, "no deal was created twice")
                    for tenant in Self.tenants {
                        let leads = accounts[tenant]!.allLeads(includingDeleted: false)
                        #expect(
                            leads.count == 4,
                            "\(tenant): two leads of its own and two deals from MasterDeal, each once: \(leads.map(\.name))")
                        #expect(!leads.contains { $0.name.hasPrefix("MD ") && !$0.name.hasPrefix("MD \(tenant) ") }, "only its own deals")
                    }
                } catch {
                    for (index, serve) in serves.enumerated() {
                        print("--- serve #\(index + 1) (pid \(serve.program.pid)) ---\n\(serve.program.stderr.suffix(15_000))")
                    }
                    throw error
                }
            }
        }
    }

    /// Lanes per serve process (by pid), as `dealsync connector status` tells them.
    static func lanes(binary: String, directory: String, databaseURL: DatabaseURL) async throws -> [Int32: Int] {
        let output = try await ChildProgram.run(
            binary,
            [
                "connector", "status", "--json", "--config", directory, "--env-file", "/dev/null", "--database-url",
                databaseURL.revealedURLString(),
            ])
        guard output.status == 0, let json = try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any],
            let connectors = json["connectors"] as? [[String: Any]]
        else { throw ChildProgramError("connector status failed: \(output.stderr)") }
        var counts: [Int32: Int] = [:]
        for connector in connectors {
            guard let runner = connector["lane_runner"] as? String else { continue }
            let parts = runner.split(separator: ":")
            if parts.count >= 3, let pid = Int32(parts[parts.count - 2]) { counts[pid, default: 0] += 1 }
        }
        return counts
    }

    static func ready(port: Int) async throws -> Bool {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/readyz")
        request.method = .GET
        return try await HTTPClient.shared.execute(request, timeout: .seconds(2)).status == .ok
    }

    static func writeConfiguration(to directory: String, masterURL: String, amoURL: String) throws {
        var files: [(String, String)] = [
            ("connectors/masterdeal.yaml", TourFixture.masterDeal(url: masterURL, token: token, secret: "many-tenants-event-secret")),
            ("mappings/tour.yaml", Scenario.mappingYAML),
        ]
        for tenant in tenants {
            let connector = TourFixture.connector(
                id: tenant, url: SimulatedAccounts<AmoCRMSimulator>.baseURL(of: tenant, on: amoURL), secret: "hook-secret-\(tenant)",
                account: "acc-\(tenant)", extra: ["poll: {interval: 1s, overlap: 2s}", "delivery: {backoff_base: 100ms, backoff_cap: 1s}"])
            files.append(("connectors/\(tenant).yaml", connector))
        }
        try writeFiles(files, into: directory)
    }
}
