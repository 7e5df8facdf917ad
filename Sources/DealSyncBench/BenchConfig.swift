import DealSyncCore
import DealSyncStore
import Foundation
import Logging
import PostgresNIO

/// The configuration a benchmark run serves: MasterDeal and two amoCRM accounts (A and B) with the tour agency's
/// mapping, secrets in a `dealsync.env` of its own, and rate limits raised where the benchmark measures dealsync
/// rather than a target's budget (MasterDeal's client-side limit; amoCRM keeps its real 7 requests/s).
enum BenchConfig {
    static let values: [String: String] = [
        "MASTERDEAL_TOKEN": "bench-masterdeal-token", "MASTERDEAL_EVENT_SECRET": "bench-masterdeal-event-secret",
        "TOUR_A_CLIENT_ID": "bench-a-client", "TOUR_A_CLIENT_SECRET": "bench-a-client-secret",
        "TOUR_A_REFRESH_TOKEN": "bench-a-refresh-token", "TOUR_A_WEBHOOK_SECRET": "bench-a-webhook-secret-0001",
        "TOUR_B_CLIENT_ID": "bench-b-client", "TOUR_B_CLIENT_SECRET": "bench-b-client-secret",
        "TOUR_B_REFRESH_TOKEN": "bench-b-refresh-token", "TOUR_B_WEBHOOK_SECRET": "bench-b-webhook-secret-0001",
    ]

    /// Writes `connectors/`, `mappings/` (the repository's tour-agency mapping) and `dealsync.env` into `directory`.
    /// `masterExtra` adds lines to the MasterDeal connector (its Kafka bus).
    static func write(
        into directory: String, repository: String, masterURL: String, amoA: String, amoB: String, masterExtra: String = ""
    ) throws {
        let files = FileManager.default
        try files.createDirectory(atPath: "\(directory)/connectors", withIntermediateDirectories: true)
        try files.createDirectory(atPath: "\(directory)/mappings", withIntermediateDirectories: true)
        let mapping = try String(contentsOfFile: "\(repository)/mappings/tour-agency.yaml", encoding: .utf8)
        try mapping.write(toFile: "\(directory)/mappings/tour-agency.yaml", atomically: true, encoding: .utf8)
        var env = values
        env["MASTERDEAL_URL"] = masterURL
        env["TOUR_A_URL"] = amoA
        env["TOUR_B_URL"] = amoB
        try env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\n")
            .write(toFile: "\(directory)/dealsync.env", atomically: true, encoding: .utf8)
        try """
        id: masterdeal
        kind: masterdeal
        base_url: ${MASTERDEAL_URL}
        auth:
          bearer_token: ${MASTERDEAL_TOKEN}
        webhook:
          secret: ${MASTERDEAL_EVENT_SECRET}
        poll: {interval: 30s}
        rate_limit: {requests_per_second: 5000, burst: 1000}
        \(masterExtra)
        """.write(toFile: "\(directory)/connectors/masterdeal.yaml", atomically: true, encoding: .utf8)
        for (name, prefix, account) in [("tour-a", "TOUR_A", "acc-a"), ("tour-b", "TOUR_B", "acc-b")] {
            try """
            id: \(name)
            kind: amocrm
            base_url: ${\(prefix)_URL}
            mapping: tour-agency
            master_account: \(account)
            auth:
              oauth:
                client_id: ${\(prefix)_CLIENT_ID}
                client_secret: ${\(prefix)_CLIENT_SECRET}
                redirect_uri: https://dealsync.example/oauth/amocrm
                refresh_token: ${\(prefix)_REFRESH_TOKEN}
            webhook:
              secret: ${\(prefix)_WEBHOOK_SECRET}
            poll: {interval: 60s}
            rate_limit: {requests_per_second: 7}
            delivery: {batch_size: 50}
            """.write(toFile: "\(directory)/connectors/\(name).yaml", atomically: true, encoding: .utf8)
        }
    }

    /// A throwaway PostgreSQL with the durable settings (`fsync`, `synchronous_commit`, `full_page_writes` on) and
    /// `databases` created in it, each counting its statements (`pg_stat_statements`, where it is installed: the
    /// cost per change the run prints); the caller stops it.
    static func durableCluster(creating databases: [String], maxConnections: Int = 200, logger: Logger) async throws -> EmbeddedPostgres {
        let counting = (try? PostgresInstallation.find())?.hasLibrary("pg_stat_statements") ?? false
        let settings =
            (counting ? ["shared_preload_libraries=pg_stat_statements"] : [])
            + (ProcessInfo.processInfo.environment["DEALSYNC_BENCH_PG_SETTINGS"] ?? "").split(separator: " ").map(String.init)
        let cluster = try EmbeddedPostgres.start(options: .init(fsync: true, maxConnections: maxConnections, settings: settings))
        do {
            try await Database.withDatabase(cluster.url, logger: logger) { admin in
                for name in databases {
                    _ = try await admin.client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
                }
            }
            for name in databases where counting {
                try await Database.withDatabase(cluster.url.with(database: name), logger: logger) { database in
                    _ = try await database.client.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", logger: logger)
                }
            }
        } catch {
            cluster.stop()
            throw error
        }
        return cluster
    }

    static func environment(directory: String) -> [String: String] {
        let text = (try? String(contentsOfFile: "\(directory)/dealsync.env", encoding: .utf8)) ?? ""
        return EnvironmentFile.parse(text)
    }

    static func mapping(directory: String, environment: [String: String]) throws -> Mapping {
        let text = try String(contentsOfFile: "\(directory)/mappings/tour-agency.yaml", encoding: .utf8)
        let configuration = try ConfigurationLoader(environment: environment)
            .load(connectors: [], mappings: [.init(path: "tour-agency.yaml", text: text)])
        guard let mapping = configuration.mappings["tour-agency"] else { throw BenchError("no tour-agency mapping") }
        return mapping
    }
}
