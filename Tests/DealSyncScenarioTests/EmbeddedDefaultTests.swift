import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import Testing

/// `dealsync serve` without a database URL: the durable cluster in `<config>/.dealsync`, as an operator meets it.
struct EmbeddedDefaultTests {
    static var embedded: Scenario.Options {
        var options = Scenario.Options()
        options.embedded = true
        // Writes to a CRM that is down wait in the outbox instead of running out of attempts during the test.
        options.amoDeliveryYAML = "delivery: {backoff_base: 100ms, backoff_cap: 1s, max_attempts: 1000, max_age: 1h}"
        return options
    }

    static func makeDeal(_ scenario: Scenario, _ name: String, stage: String = "lead") throws {
        _ = try scenario.masterDeal.createAsUser(
            .object([
                "account_id": .string(Scenario.account), "opportunity_name": .string(name), "stage": .string(stage),
                "amount": .string("15000.00"), "currency": .string("RUB"), "owner_id": .string("u-olga"),
            ]))
    }

    /// The stored OAuth pair's summary (generation, when) of `connector` in `connector status --json`.
    static func tokens(of connector: String, in json: String) throws -> String? {
        let document = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let views = document?["connectors"] as? [[String: Any]] ?? []
        guard let tokens = views.first(where: { $0["id"] as? String == connector })?["oauth_tokens"] else { return nil }
        return String(data: try JSONSerialization.data(withJSONObject: tokens, options: .sortedKeys), encoding: .utf8)
    }

    @Test func killedServeAndClusterComeBackWithLinksWaitingWritesAndTheRotatedOAuthPair() async throws {
        try await Scenario.run(Self.embedded) { scenario in
            try await scenario.startGateway()
            #expect(
                try await scenario.texts(
                    "SELECT setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes') ORDER BY name")
                    == ["on", "on", "on"], "PostgreSQL's durable defaults")

            // A first deal reaches amoCRM: the first call there spends the configured refresh token (single use).
            try Self.makeDeal(scenario, "MD-0")
            try await eventually("the first deal is linked", timeout: .seconds(30)) {
                scenario.leads().count == 1 && scenario.disagreements().isEmpty
            }
            #expect(scenario.amo.stats.tokenRefreshes >= 1, "the configured refresh token was used, so it is dead now")
            let tokenGeneration = try await scenario.count("SELECT generation FROM oauth_tokens WHERE connector = 'tour'")
            #expect(tokenGeneration >= 1, "the rotated pair is stored")

            // amoCRM goes down; three more deals wait as writes in the outbox.
            var down = FaultSettings()
            down.down = true
            scenario.amo.faults.update(down)
            for index in 1...3 { try Self.makeDeal(scenario, "MD-\(index)") }
            try await eventually("writes to amoCRM wait", timeout: .seconds(30)) {
                try await scenario.count("SELECT count(*) FROM outbox WHERE target = 'tour' AND status IN ('pending', 'in_flight')") >= 3
            }
            let links = try await scenario.count("SELECT count(*) FROM links")
            #expect(links >= 1)

            // SIGKILL the gateway, and its postmaster too: no clean shutdown anywhere, a stale postmaster.pid left.
            let postmaster = try #require(scenario.dataDirectory.runningCluster()).pid
            await scenario.killGateway()
            kill(postmaster, SIGKILL)
            try await eventually("the postmaster is gone", timeout: .seconds(10)) { kill(postmaster, 0) != 0 }
            #expect(FileManager.default.fileExists(atPath: scenario.dataDirectory.clusterPath + "/postmaster.pid"), "a stale lock is left")
            try await eventually("the lock is free once the killed serve's watchdog has stopped its cluster", timeout: .seconds(10)) {
                scenario.dataDirectory.holder() == nil
            }

            scenario.amo.faults.update(FaultSettings())
            try await scenario.startGateway()
            do {
                try await eventually("the waiting writes are delivered", timeout: .seconds(45)) {
                    guard scenario.leads().count == 4, scenario.disagreements().isEmpty else { return false }
                    return try await scenario.openWork() == 0
                }
            } catch {
                Issue.record("\(error)\n\(scenario.disagreements().joined(separator: "\n"))\n\(await scenario.dumpOpenWork())")
                throw error
            }
            #expect(scenario.leads().count == 4 && scenario.deals().count == 4, "the first deal's link was kept: no second lead")
            #expect(try await scenario.count("SELECT count(*) FROM links") >= links)
            #expect(try await scenario.count("SELECT generation FROM oauth_tokens WHERE connector = 'tour'") >= tokenGeneration)
            #expect(try await scenario.count("SELECT count(*) FROM connector_status") == 0, "no connector paused for a dead token")
            #expect(try await scenario.count("SELECT count(*) FROM dead_letters") == 0)
        }
    }

    @Test func aSecondServeOnTheSameDataDirectoryIsRefused() async throws {
        try await Scenario.run(Self.embedded) { scenario in
            let first = try await scenario.startGateway()
            let second = try ChildProgram(
                scenario.binary,
                [
                    "serve", "--config", scenario.directory, "--env-file", "/dev/null", "--host", "127.0.0.1",
                    "--port", String(try FreePort.pick()),
                ], environment: ["DATABASE_URL": ""])
            var status: Int32?
            let deadline = ContinuousClock.now + .seconds(20)
            while status == nil, ContinuousClock.now < deadline {
                status = second.poll()
                try await Task.sleep(for: .milliseconds(50))
            }
            if status == nil {
                second.signal(SIGKILL)
                _ = await second.wait()
            }
            #expect(status == 1, "the second serve exits at once")
            #expect(
                second.stderr.contains("another dealsync serve (pid \(first.pid)) is running on the data directory"), "\(second.stderr)")
            #expect(try await scenario.get("/readyz").status == 200, "the first one is untouched")
            #expect(scenario.dataDirectory.holder()?.role == .serve && scenario.dataDirectory.holder()?.pid == first.pid)
        }
    }

    @Test func commandsFindTheClusterWithAndWithoutServe() async throws {
        try await Scenario.run(Self.embedded) { scenario in
            try await scenario.startGateway()
            try Self.makeDeal(scenario, "MD-0")
            try await eventually("the deal is linked", timeout: .seconds(30)) {
                scenario.leads().count == 1 && scenario.disagreements().isEmpty
            }
            let running = try #require(scenario.dataDirectory.runningCluster())

            let whileServing = try await scenario.dealsync(["connector", "status", "--json"], config: true)
            #expect(whileServing.status == 0, "\(whileServing.stderr)")
            #expect(whileServing.stdout.contains("\"tour\""), "\(whileServing.stdout)")
            let audit = try await scenario.dealsync(["dlq", "audit"])
            #expect(audit.status == 0, "\(audit.stderr)")
            #expect(scenario.dataDirectory.runningCluster() == running, "the command used serve's cluster and left it running")

            #expect(await scenario.terminateGateway() == 0)
            #expect(scenario.dataDirectory.runningCluster() == nil && scenario.dataDirectory.holder() == nil)
            let afterwards = try await scenario.dealsync(["connector", "status", "--json"], config: true)
            #expect(afterwards.status == 0, "\(afterwards.stderr)")
            let tokens = try Self.tokens(of: "tour", in: whileServing.stdout)
            #expect(tokens != nil, "serve stored the OAuth pair: \(whileServing.stdout)")
            #expect(try Self.tokens(of: "tour", in: afterwards.stdout) == tokens, "the same cluster, with the same stored pair")
            #expect(
                scenario.dataDirectory.runningCluster() == nil && scenario.dataDirectory.holder() == nil,
                "the cluster started for the command is stopped after it")
        }
    }
}
