import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import Testing

/// `SIGHUP` and `dealsync reload` against a running `dealsync serve`: a changed mapping applies to what is decided
/// after it; CRM connectors are removed, added back and restarted with new settings; an invalid configuration, or
/// a changed MasterDeal connector, is refused and the running one keeps working.
struct ConfigReloadTests {
    /// The mapping with `qualified` written as Прогрев (7001003) instead of Квалификация (7001002).
    static let swappedYAML = Scenario.mappingYAML.replacingOccurrences(
        of: "qualified: [{status: 7001002, name: Квалификация}, {status: 7001003, name: Прогрев}]",
        with: "qualified: [{status: 7001003, name: Прогрев}, {status: 7001002, name: Квалификация}]")

    static func qualifiedLead(_ scenario: Scenario, _ name: String) async throws -> Int {
        _ = try scenario.masterDeal.createAsUser(
            .object([
                "account_id": .string(Scenario.account), "opportunity_name": .string(name), "stage": .string("qualified"),
                "amount": .string("15000.00"), "currency": .string("RUB"), "owner_id": .string("u-olga"),
            ]))
        try await eventually("\(name) reaches amoCRM", timeout: .seconds(30)) {
            scenario.leads().contains { $0.name == name && Scenario.link(of: $0) != nil }
        }
        return try #require(scenario.leads().first { $0.name == name }).statusID
    }

    static func reloads(_ scenario: Scenario) async throws -> [String] {
        try await scenario.texts("SELECT reason FROM audit_log WHERE action = 'config.reload' ORDER BY id")
    }

    @Test func aChangedMappingAppliesAndAnInvalidOneIsRefused() async throws {
        var options = Scenario.Options()
        options.embedded = true
        try await Scenario.run(options) { scenario in
            let serve = try await scenario.startGateway()
            #expect(Self.swappedYAML != Scenario.mappingYAML)
            #expect(try await Self.qualifiedLead(scenario, "before") == 7_001_002, "the mapping it started with")

            // Accepted: SIGHUP after the mapping file changed.
            try Self.swappedYAML.write(toFile: scenario.directory + "/mappings/tour.yaml", atomically: true, encoding: .utf8)
            serve.signal(SIGHUP)
            try await eventually("the reload is audited", timeout: .seconds(10)) { try await Self.reloads(scenario) == ["accepted"] }
            #expect(try await Self.qualifiedLead(scenario, "after") == 7_001_003, "decided by the new mapping")
            #expect(try await scenario.get("/metrics").body.contains(#"dealsync_config_reloads_total{result="accepted"} 1"#))

            // Refused: a typo (line 6 of the file) next to a change that would be valid on its own.
            let broken = Scenario.mappingYAML.replacingOccurrences(of: "conflict: lww}", with: "conflict: lwww}")
            try broken.write(toFile: scenario.directory + "/mappings/tour.yaml", atomically: true, encoding: .utf8)
            let command = try await scenario.dealsync(["reload"], config: true)
            #expect(command.status == 1)
            #expect(command.stderr.contains("tour.yaml:6:"), "\(command.stderr)")
            try await eventually("the refusal is audited", timeout: .seconds(10)) {
                try await Self.reloads(scenario) == ["accepted", "refused"]
            }
            let log = scenario.gatewayLogs()
            #expect(log.contains("configuration reload refused"))
            #expect(log.contains("tour.yaml:6:"), "every problem at file:line:column in the log")
            #expect(serve.poll() == nil, "still running")
            #expect(
                try await Self.qualifiedLead(scenario, "refused") == 7_001_003, "the accepted mapping keeps running, not the refused file")
            let metrics = try await scenario.get("/metrics").body
            #expect(metrics.contains(#"dealsync_config_reloads_total{result="refused"} 1"#))
            #expect(metrics.contains("dealsync_config_last_reload_successful 0"))

            #expect(try await Self.qualifiedLead(scenario, "still") == 7_001_003)
        }
    }

    static func lead(_ scenario: Scenario, _ name: String) throws {
        _ = try scenario.amo.createAsSalesperson(
            userID: Scenario.olga,
            AmoLeadFields(name: name, price: 1_000, statusID: 7_001_001, pipelineID: Scenario.pipeline, responsibleUserID: Scenario.olga))
    }

    static func connectorsOfLastReload(_ scenario: Scenario) async throws -> String? {
        try await scenario.texts("SELECT details->>'connectors' FROM audit_log WHERE action = 'config.reload' ORDER BY id").last
    }

    @Test func aCRMConnectorIsRemovedAddedBackAndRestartedWithoutARestart() async throws {
        var options = Scenario.Options()
        options.embedded = true
        try await Scenario.run(options) { scenario in
            let serve = try await scenario.startGateway()
            try Self.lead(scenario, "first")
            try await eventually("the first lead reaches MasterDeal", timeout: .seconds(30)) {
                scenario.deals().contains { $0.opportunityName == "first" }
            }
            let connector = scenario.directory + "/connectors/tour.yaml"
            let yaml = try String(contentsOfFile: connector, encoding: .utf8)

            // Removed: its lane stops and its webhook route is gone; nothing of it runs any more.
            try FileManager.default.removeItem(atPath: connector)
            serve.signal(SIGHUP)
            try await eventually("the removal is audited", timeout: .seconds(20)) { try await Self.reloads(scenario) == ["accepted"] }
            #expect(try await Self.connectorsOfLastReload(scenario) == "removed tour")
            #expect(try await scenario.postAmoWebhook("leads[add][0][id]=1", secret: Scenario.webhookSecret) == 404)
            let metrics = try await scenario.get("/metrics").body
            #expect(metrics.contains(#"dealsync_lane_running{connector="tour"} 0"#), "\(metrics)")
            #expect(metrics.contains(#"dealsync_lane_changes_total{event="removed"} 1"#))
            try Self.lead(scenario, "while removed")

            // Added back: the lane starts again and its poll finds the lead made meanwhile.
            try yaml.write(toFile: connector, atomically: true, encoding: .utf8)
            serve.signal(SIGHUP)
            try await eventually("the addition is audited", timeout: .seconds(20)) {
                try await Self.reloads(scenario) == ["accepted", "accepted"]
            }
            #expect(try await Self.connectorsOfLastReload(scenario) == "added tour")
            try await eventually("the lead made while it was removed reaches MasterDeal", timeout: .seconds(30)) {
                scenario.deals().contains { $0.opportunityName == "while removed" }
            }

            // Changed settings: the lane restarts with them and keeps syncing both ways.
            try yaml.replacingOccurrences(of: "poll: {interval: 1s, overlap: 2s}", with: "poll: {interval: 2s, overlap: 3s}")
                .write(toFile: connector, atomically: true, encoding: .utf8)
            let reload = try await scenario.dealsync(["reload"], config: true)
            #expect(reload.status == 0, "\(reload.stderr)")
            try await eventually("the restart is audited", timeout: .seconds(20)) {
                try await Self.reloads(scenario) == ["accepted", "accepted", "accepted"]
            }
            #expect(try await Self.connectorsOfLastReload(scenario) == "restarted tour")
            #expect(try await Self.qualifiedLead(scenario, "after restart") == 7_001_002)
            try Self.lead(scenario, "after restart, from amoCRM")
            try await eventually("a lead made after the restart reaches MasterDeal", timeout: .seconds(30)) {
                scenario.deals().contains { $0.opportunityName == "after restart, from amoCRM" }
            }

            // MasterDeal's connector is shared by everything: a change to it waits for a restart.
            let master = scenario.directory + "/connectors/masterdeal.yaml"
            try (try String(contentsOfFile: master, encoding: .utf8)).replacingOccurrences(
                of: "poll: {interval: 1s", with: "poll: {interval: 3s"
            )
            .write(toFile: master, atomically: true, encoding: .utf8)
            serve.signal(SIGHUP)
            try await eventually("the refusal is audited", timeout: .seconds(20)) {
                try await Self.reloads(scenario) == ["accepted", "accepted", "accepted", "refused"]
            }
            #expect(scenario.gatewayLogs().contains("masterdeal (MasterDeal) changed: its settings apply at restart"))
            #expect(serve.poll() == nil, "still running")
            #expect(scenario.leads().filter { $0.name == "first" }.count == 1)
            #expect(scenario.deals().filter { $0.opportunityName == "while removed" }.count == 1)
        }
    }

    static func watchReads(_ scenario: Scenario) async throws -> Int {
        let line = try await scenario.get("/metrics").body.split(separator: "\n").first {
            $0.hasPrefix("dealsync_config_watch_reads_total ")
        }
        return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
    }

    /// `serve --watch-config`: a saved change reloads by itself; a broken file is refused once, not at every look,
    /// and its fix is applied.
    @Test func aWatchedConfigurationReloadsWhenItsFilesChange() async throws {
        var options = Scenario.Options()
        options.embedded = true
        options.serveArguments = ["--watch-config", "--watch-interval", "0.2"]
        try await Scenario.run(options) { scenario in
            let serve = try await scenario.startGateway()
            let mapping = scenario.directory + "/mappings/tour.yaml"
            try Self.swappedYAML.write(toFile: mapping, atomically: true, encoding: .utf8)
            try await eventually("the change is applied by itself", timeout: .seconds(20)) {
                try await Self.reloads(scenario) == ["accepted"]
            }
            let actors = try await scenario.texts("SELECT actor FROM audit_log WHERE action = 'config.reload' ORDER BY id")
            #expect(actors.first?.hasPrefix("configuration watch") == true, "\(actors)")
            #expect(try await Self.qualifiedLead(scenario, "watched") == 7_001_003)

            let broken = Self.swappedYAML.replacingOccurrences(of: "conflict: lww}", with: "conflict: lwww}")
            try broken.write(toFile: mapping, atomically: true, encoding: .utf8)
            try await eventually("the broken file is refused", timeout: .seconds(20)) {
                try await Self.reloads(scenario) == ["accepted", "refused"]
            }
            // The watch keeps reading the files, and does not try the broken ones again.
            let reads = try await Self.watchReads(scenario)
            try await eventually("the watch read the files five more times", timeout: .seconds(20)) {
                try await Self.watchReads(scenario) >= reads + 5
            }
            #expect(try await Self.reloads(scenario) == ["accepted", "refused"])
            try Self.swappedYAML.replacingOccurrences(of: "conflict: lww}", with: "conflict: lww}  # fixed")
                .write(toFile: mapping, atomically: true, encoding: .utf8)
            try await eventually("the fix is applied", timeout: .seconds(20)) {
                try await Self.reloads(scenario) == ["accepted", "refused", "accepted"]
            }
            #expect(serve.poll() == nil)
        }
    }
}
