import DealSyncCore
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import Testing

/// `dealsync serve` as an orchestrator sees it: probes, metrics, and a clean stop on SIGTERM.
struct ServeLifecycleTests {
    @Test func serveAnswersHealthReadinessAndMetricsAndStopsOnSIGTERM() async throws {
        try await Scenario.run { scenario in
            let serve = try await scenario.startGateway()

            let health = try await scenario.get("/healthz")
            #expect(health.status == 200)
            #expect(health.body.contains(#""status":"ok""#), "\(health.body)")

            // serve migrated the empty database itself; ready means reachable and at the latest schema.
            let ready = try await scenario.get("/readyz")
            #expect(ready.status == 200)
            #expect(ready.body.contains(#""status":"ready""#), "\(ready.body)")
            #expect(try await scenario.count("SELECT count(*) FROM schema_migrations") >= 1)

            let metrics = try await scenario.get("/metrics")
            #expect(metrics.status == 200)
            for connector in ["masterdeal", "tour"] {
                #expect(
                    metrics.body.contains(#"dealsync_connector_info{"#) && metrics.body.contains(#"connector="\#(connector)""#),
                    "no dealsync_connector_info for \(connector)")
                #expect(
                    Self.metricLines(metrics.body, "dealsync_webhooks_total", connector: connector, outcome: "accepted").count == 1,
                    "the accepted webhook counter of \(connector) is registered at zero")
            }
            #expect(metrics.body.contains(#"kind="amocrm""#) && metrics.body.contains(#"kind="masterdeal""#))

            let status = await scenario.terminateGateway(timeout: .seconds(15))
            #expect(status == 0, "SIGTERM ends serve with status 0 within 15 s (got \(status.map(String.init) ?? "no exit"))")
            #expect(serve.stderr.contains(#""msg":"stopped""#), "the last words are the log line «stopped»:\n\(serve.stderr.suffix(2_000))")
            #expect(!serve.stderr.contains(#""level":"error""#), "no error logged on the way down:\n\(serve.stderr.suffix(4_000))")
            // Nothing listens any more.
            #expect(!Scenario.accepts(port: scenario.gatewayPort), "nothing listens on the port any more")
        }
    }

    /// SIGTERM ends `serve` with its PostgreSQL crashed (the stop of a machine whose database went first): the
    /// process exits by itself within its bounds (10 s of grace, 5 s of cancellation), never waiting for the
    /// database. The test waits up to 30 s for the exit; what it took is printed.
    @Test func sigtermEndsServeWhileItsDatabaseIsDown() async throws {
        var options = Scenario.Options()
        options.privateCluster = true
        options.polling = false
        try await Scenario.run(options) { scenario in
            let serve = try await scenario.startGateway()
            let cluster = try #require(scenario.privateCluster)
            try await cluster.halted(mode: .immediate)
            // serve has noticed: it says the database is unreachable.
            try await eventually("serve reports the database unreachable", timeout: .seconds(20)) {
                let ready = try await scenario.get("/readyz")
                return ready.status == 503 && ready.body.contains("database unreachable")
            }
            let signalled = ContinuousClock.now
            let status = await scenario.terminateGateway(timeout: .seconds(30))
            print("serve stopped \(signalled.duration(to: .now)) after SIGTERM with its database down")
            #expect(status != nil, "serve did not exit within 30 s of SIGTERM:\n\(serve.stderr.suffix(3_000))")
            #expect(!Scenario.accepts(port: scenario.gatewayPort), "nothing listens on the port any more")
        }
    }

    @Test func logsAreJSONLinesWithLineageIDsAndNeverASecret() async throws {
        var options = Scenario.Options()
        options.logLevel = "debug"  // the chattiest level must not leak either
        try await Scenario.run(options) { scenario in
            let serve = try await scenario.startGateway()
            let deal = try scenario.masterDeal.createAsUser(
                .object([
                    "account_id": .string(Scenario.account), "opportunity_name": .string("Логи"), "stage": .string("lead"),
                    "owner_id": .string("u-olga"),
                ]))
            try await eventually("the lead exists", timeout: .seconds(20)) {
                scenario.amo.allLeads(includingDeleted: false).contains { $0.values(ofField: Scenario.linkField) == [deal.id] }
            }
            _ = try await scenario.postAmoWebhook("leads%5Bdelete%5D%5B0%5D%5Bid%5D=1", secret: "guessed-secret-0000")
            // The tokens amoCRM issued during the run (the refresh token is single-use and was replaced).
            let tokens = try await scenario.texts("SELECT access_token FROM oauth_tokens UNION ALL SELECT refresh_token FROM oauth_tokens")
            #expect(!tokens.isEmpty, "serve refreshed amoCRM's token and stored the pair")
            #expect(await scenario.terminateGateway() == 0)

            let secrets =
                [
                    Scenario.webhookSecret, Scenario.eventSecret, Scenario.token, "sim-client-secret-0f4e8d2c7b6a",
                    "def50200-sim-initial-refresh-token",
                ] + tokens
            let log = serve.stderr
            let lines = log.split(separator: "\n").filter { !$0.isEmpty }
            #expect(lines.count > 10, "\(log)")
            for line in lines {
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                #expect(object?["msg"] is String && object?["level"] is String, "not a JSON log line: \(line)")
            }
            for secret in secrets where !secret.isEmpty {
                #expect(!log.contains(secret), "a secret reached the log: \(secret.prefix(6))…")
            }
            #expect(lines.contains { $0.contains(#""lineage_id":""#) }, "writes are logged with their lineage id")
            #expect(!serve.stdout.contains(Scenario.webhookSecret))
        }
    }

    /// The exposition lines of `name` for a connector and outcome.
    static func metricLines(_ exposition: String, _ name: String, connector: String, outcome: String) -> [Substring] {
        exposition.split(separator: "\n").filter {
            $0.hasPrefix(name + "{") && $0.contains(#"connector="\#(connector)""#) && $0.contains(#"outcome="\#(outcome)""#)
        }
    }

    /// The value of one counter sample (0 when absent).
    static func metricValue(_ exposition: String, _ name: String, connector: String, outcome: String) -> Double {
        metricLines(exposition, name, connector: connector, outcome: outcome).first
            .flatMap { $0.split(separator: " ").last }.flatMap { Double($0) } ?? 0
    }
}
