import DealSyncCore
import DealSyncGateway
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// A gateway on loopback over a fresh database, with the three connectors of ``SyncSystem`` pointing nowhere
/// and polling off: for what the webhook routes do with what arrives.
struct IntakeGateway: Sendable {
    let port: Int
    let database: Database

    var url: String { "http://127.0.0.1:\(port)" }

    /// Runs `body` with a gateway over a fresh database (in `cluster`, when given: a cluster the test stops and
    /// starts), then stops the gateway.
    static func run(
        in cluster: EmbeddedPostgres? = nil, _ configure: @Sendable (inout Gateway.Options) -> Void = { _ in },
        _ body: @Sendable (IntakeGateway) async throws -> Void
    ) async throws {
        let logger = TestPostgres.logger
        let configuration = try Self.configuration()
        let url = try await TestPostgres.freshDatabaseURL(in: cluster)
        let stopping = Mutex<(told: ContinuousClock.Instant?, services: ContinuousClock.Instant?)>((nil, nil))
        defer {
            // Where a slow stop's time went: the services, or closing the database client (every pool it started).
            let (told, services) = stopping.withLock { $0 }
            if let told, told.duration(to: .now) > .seconds(3) {
                print(
                    "intake gateway stop: services stopped after \(services.map { told.duration(to: $0) }.map(String.init(describing:)) ?? "never"), "
                        + "database closed after \(told.duration(to: .now))")
            }
        }
        try await Database.withDatabase(url, logger: logger, maximumConnections: 10) { database in
            var options = Gateway.Options()
            options.port = 0
            options.polling = false
            options.statsInterval = .seconds(60)
            configure(&options)
            let gateway = Gateway(configuration: configuration, database: database, options: options, logger: logger)
            let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
            let running = RunningServices()
            let services = gateway.services { continuation.yield($0) }.enumerated().map { index, service in
                Watched(name: "\(index):\(type(of: service))", inner: service, running: running) as any Service
            }
            let group = ServiceGroup(services: services, logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                var iterator = ports.makeAsyncIterator()
                let port = await iterator.next() ?? 0
                do {
                    try await body(IntakeGateway(port: port, database: database))
                } catch {
                    stopping.withLock { $0.told = .now }
                    await group.triggerGracefulShutdown()
                    try? await tasks.waitForAll()
                    stopping.withLock { $0.services = .now }
                    throw error
                }
                stopping.withLock { $0.told = .now }
                await group.triggerGracefulShutdown()
                let report = Task {
                    try await Task.sleep(for: .seconds(10))
                    print("intake gateway stop: still running after 10 s: \(running.names.withLock { $0.sorted() })")
                    try await IntakeGateway.printActivity(url)
                }
                defer { report.cancel() }
                try await tasks.waitForAll()
                stopping.withLock { $0.services = .now }
            }
        }
    }

    static func printActivity(_ url: DatabaseURL) async throws {
        try await Database.withDatabase(url, logger: TestPostgres.logger, maximumConnections: 1) { admin in
            let rows = try await admin.client.query(
                "SELECT pid, state, coalesce(wait_event_type,'') || '/' || coalesce(wait_event,''), left(query, 120), (now() - query_start)::text FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            for try await (pid, state, wait, query, age) in rows.decode((Int, String?, String, String?, String?).self) {
                print("  backend \(pid) \(state ?? "-") \(wait) \(age ?? "-") \(query ?? "-")")
            }
        }
    }

    /// ``SyncSystem``'s three connectors, pointing nowhere.
    static func configuration() throws -> Configuration {
        let nowhere = "http://127.0.0.1:9"
        return try ConfigurationLoader(environment: [:]).load(
            connectors: SyncSystem.connectorsYAML(master: nowhere, amo: nowhere, bitrix: nowhere).map { .init(path: $0.0, text: $0.1) },
            mappings: [
                .init(path: "mappings/tour.yaml", text: SyncSystem.mappingYAML()),
                .init(path: "mappings/fitness.yaml", text: SyncSystem.fitnessMappingYAML()),
            ])
    }

    /// Rows in the inbox.
    func inboxCount() async throws -> Int {
        let rows = try await database.client.query("SELECT count(*) FROM inbox")
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    /// A raw HTTP/1.1 POST head (and body, when given) to `path`.
    static func head(_ path: String, _ headers: [(String, String)], length: Int) -> String {
        var text = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(length)\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        return text + "\r\n"
    }

    // MARK: Genuine webhooks

    static let form = ("Content-Type", "application/x-www-form-urlencoded")
    static let json = ("Content-Type", "application/json")

    /// An amoCRM `add` webhook for lead `id`, as amoCRM posts it.
    static func amoBody(id: Int = 9001, name: String = "Тур в Сочи") -> String {
        PHPForm.encode([
            ("leads[add][0][id]", String(id)), ("leads[add][0][name]", name), ("leads[add][0][status_id]", "7001001"),
            ("leads[add][0][pipeline_id]", "7001000"), ("leads[add][0][price]", "1000"),
            ("leads[add][0][last_modified]", "1735689600"), ("account[id]", "29085955"),
        ])
    }

    /// A Bitrix24 application event for deal `id`, carrying the portal's token and a user's OAuth tokens.
    static func bitrixBody(id: Int = 134_806, token: String = SyncSystem.applicationToken) -> String {
        PHPForm.encode([
            ("event", "ONCRMDEALUPDATE"), ("event_handler_id", "58"), ("data[FIELDS][ID]", String(id)), ("ts", "1727018926"),
            ("auth[access_token]", "bitrix-access-canary-7f3c"), ("auth[refresh_token]", "bitrix-refresh-canary-9d21"),
            ("auth[domain]", "fitcoach.bitrix24.ru"), ("auth[member_id]", "6a1f0e3c9b27d84f5e2a7c19d03b8e64"),
            ("auth[application_token]", token),
        ])
    }

    /// A signed MasterDeal `DealCreated` event for a deal of an account nobody syncs, and its signature.
    static func masterDealEvent(name: String = "Сделка") throws -> (body: String, signature: String) {
        let simulator = MasterDealSimulator()
        let deal = try simulator.createAsUser(
            .object([
                "account_id": .string("acc-elsewhere"), "opportunity_name": .string(name), "stage": .string("lead"),
                "amount": .string("5000.00"), "currency": .string("RUB"), "owner_id": .string("u-olga"),
            ]))
        let now = Int64(Date().timeIntervalSince1970)
        let body = MasterDealSimulator.Event(type: .dealCreated, occurredAt: now * 1000, source: "masterdeal-ui", deal: deal).json.text
        return (body, MasterDealSimulator.signature(secret: SyncSystem.eventSecret, body: body, timestamp: now))
    }
}

/// A service whose name is in `running` while it runs.
struct Watched: Service {
    let name: String
    let inner: any Service
    let running: RunningServices

    func run() async throws {
        running.names.withLock { _ = $0.insert(name) }
        defer { running.names.withLock { _ = $0.remove(name) } }
        try await inner.run()
    }
}

final class RunningServices: Sendable {
    let names = Mutex<Set<String>>([])
}
