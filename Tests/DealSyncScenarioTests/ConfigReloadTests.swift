import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import Testing

/// `SIGHUP` and `dealsync reload` against a running `dealsync serve`: a changed mapping applies to what is decided
/// after it; an invalid configuration, or a changed connector set, is refused and the running one keeps working.
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

            // Refused: the connector set changed (a restart is needed for that).
            try Self.swappedYAML.write(toFile: scenario.directory + "/mappings/tour.yaml", atomically: true, encoding: .utf8)
            let connector = scenario.directory + "/connectors/tour.yaml"
            try FileManager.default.moveItem(atPath: connector, toPath: connector + ".off")
            serve.signal(SIGHUP)
            try await eventually("the second refusal is audited", timeout: .seconds(10)) {
                try await Self.reloads(scenario) == ["accepted", "refused", "refused"]
            }
            #expect(scenario.gatewayLogs().contains("connector set changed (removed tour): restart needed"))
            let details = try await scenario.texts("SELECT details->>'changed' FROM audit_log WHERE action = 'config.reload' ORDER BY id")
            #expect(details.last?.contains("connectors/tour.yaml (removed)") == true, "\(details)")
            try FileManager.default.moveItem(atPath: connector + ".off", toPath: connector)
            #expect(try await Self.qualifiedLead(scenario, "still") == 7_001_003)
        }
    }
}
