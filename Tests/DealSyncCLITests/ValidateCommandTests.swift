import DealSyncTestSupport
import Foundation
import Testing

struct ValidateCommandTests {
    let root = Repository.root()

    @Test func theShippedExamplesAreValid() async throws {
        let result = try await ChildProgram.run(try Repository.dealsyncBinary(), ["validate"], directory: root)
        #expect(result.status == 0, "\(result.stderr)")
        // It names exactly what it counts (it used to say "3 connectors" and name the two CRMs).
        #expect(
            result.stdout == "ok: 3 connectors (fitness-bitrix24: bitrix24, masterdeal: masterdeal, tour-amocrm: amocrm), "
                + "2 mappings (fitness-coaching, tour-agency)\n"
                + "  fitness-bitrix24: a first poll reads from its first poll's time (poll.start: now); older records are left alone\n"
                + "  masterdeal: a first poll reads from its first poll's time (poll.start: now); older records are left alone\n"
                + "  tour-amocrm: a first poll reads from its first poll's time (poll.start: now); older records are left alone\n",
            "\(result.stdout)")
    }

    @Test func itSaysWhereEachConnectorsFirstPollStarts() async throws {
        let copy = try ConfigCopy(from: root)
        defer { copy.remove() }
        try copy.edit("connectors/tour-amocrm.yaml") { $0.replacingOccurrences(of: "  start: now ", with: "  start: beginning ") }
        try copy.edit("connectors/fitness-bitrix24.yaml") {
            $0.replacingOccurrences(of: "  interval: 60s", with: "  interval: 60s\n  start: \"2026-01-01T09:00:00+03:00\"")
        }
        try copy.edit("mappings/tour-agency.yaml") { $0 + "\nscope: {stages: [qualified, lead], updated_since: 2026-01-01}\n" }
        let result = try await ChildProgram.run(try Repository.dealsyncBinary(), ["validate", copy.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(
            result.stdout.contains("  fitness-bitrix24: a first poll reads from 2026-01-01T06:00:00Z (poll.start)\n"), "\(result.stdout)")
        #expect(
            result.stdout.hasSuffix(
                "  tour-agency: creates only records in stages lead, qualified and changed since 2026-01-01T00:00:00Z (scope)\n"),
            "\(result.stdout)")
        #expect(
            result.stdout.contains(
                "  tour-amocrm: a first poll reads from the beginning of the account's history (poll.start: beginning)\n"),
            "\(result.stdout)")
    }

    @Test func aStartThatIsNeitherNowNorBeginningNorADateIsRefusedWithItsPosition() async throws {
        let copy = try ConfigCopy(from: root)
        defer { copy.remove() }
        try copy.edit("connectors/tour-amocrm.yaml") { $0.replacingOccurrences(of: "  start: now ", with: "  start: yesterday ") }
        let result = try await ChildProgram.run(try Repository.dealsyncBinary(), ["validate", copy.path])
        #expect(result.status == 1)
        #expect(
            result.stderr.hasPrefix("\(copy.path)/connectors/tour-amocrm.yaml:19:10: poll.start: expected now, beginning, a date"),
            "\(result.stderr)")
        #expect(result.stdout.isEmpty, "\(result.stdout)")
    }

    @Test func aBrokenCopyListsEveryProblemWithItsPosition() async throws {
        let copy = try ConfigCopy(from: root)
        defer { copy.remove() }
        try copy.edit("connectors/tour-amocrm.yaml") {
            $0.replacingOccurrences(of: "poll:\n  interval: 60s", with: "pol:\n  interval: 60s")
        }
        try copy.edit("mappings/tour-agency.yaml") {
            $0.replacingOccurrences(
                of: "    direction: master_to_crm         # SLA is set by MasterDeal only", with: "    direction: sideways"
            )
            .replacingOccurrences(of: "  won:\n    - {status: 7001006, name: Продажа}", with: "  won: []")
        }
        try copy.edit("connectors/fitness-bitrix24.yaml") {
            $0.replacingOccurrences(of: "mapping: fitness-coaching", with: "mapping: fitness")
        }
        try copy.write("connectors/duplicate.yaml", contents(of: "connectors/masterdeal.yaml"))

        let result = try await ChildProgram.run(try Repository.dealsyncBinary(), ["validate", copy.path])
        #expect(result.status == 1)
        let lines = result.stderr.split(separator: "\n").map(String.init)
        let expected = [
            "\(copy.path)/connectors/masterdeal.yaml:4:1: connector id 'masterdeal' is already used in \(copy.path)/connectors/duplicate.yaml",
            "\(copy.path)/connectors/fitness-bitrix24.yaml:7:1: mapping 'fitness' does not exist (defined: fitness-coaching, tour-agency)",
            "\(copy.path)/connectors/tour-amocrm.yaml:17:1: unknown key 'pol' (did you mean 'poll'?)",
            "\(copy.path)/mappings/tour-agency.yaml:48:16: fields.sla_due_at.direction: expected one of both, master_to_crm, crm_to_master, found \"sideways\"",
            "\(copy.path)/mappings/tour-agency.yaml:78:3: canonical stage 'won' has no CRM stage to write (field 'stage' flows master → crm)",
        ]
        for line in expected {
            #expect(lines.contains(line), "missing: \(line)\n\(result.stderr)")
        }
        #expect(lines.last == "\(expected.count) problem(s) found", "\(result.stderr)")
    }

    @Test func aMissingVariableIsNamedWithFileAndLine() async throws {
        let copy = try ConfigCopy(from: root)
        defer { copy.remove() }
        try FileManager.default.removeItem(atPath: copy.path + "/dealsync.env")
        let result = try await ChildProgram.run(
            try Repository.dealsyncBinary(), ["validate", copy.path],
            environment: ["MASTERDEAL_TOKEN": "", "MASTERDEAL_EVENT_SECRET": "", "TOUR_AMOCRM_CLIENT_ID": ""])
        #expect(result.status == 1)
        #expect(
            result.stderr.contains("\(copy.path)/connectors/masterdeal.yaml:8:17: environment variable MASTERDEAL_TOKEN is not set"),
            "\(result.stderr)")
        #expect(
            result.stderr.contains("connectors/tour-amocrm.yaml:11:16: environment variable TOUR_AMOCRM_CLIENT_ID is not set"),
            "\(result.stderr)")
    }

    @Test func helpListsOnlyWorkingCommandsEachWithASentence() async throws {
        let result = try await ChildProgram.run(try Repository.dealsyncBinary(), ["--help"])
        #expect(result.status == 0)
        for command in ["validate", "migrate", "version"] {
            #expect(result.stdout.contains("  \(command) "), "\(command) missing from --help")
        }
    }

    private func contents(of path: String) throws -> String {
        try String(contentsOfFile: "\(root)/\(path)", encoding: .utf8)
    }
}

/// A throwaway copy of the shipped configuration.
struct ConfigCopy {
    let path: String

    init(from root: String) throws {
        path = NSTemporaryDirectory() + "dealsync-config-\(UUID().uuidString)"
        let fm = FileManager.default
        try fm.createDirectory(atPath: path, withIntermediateDirectories: true)
        for item in ["connectors", "mappings", "dealsync.env"] {
            try fm.copyItem(atPath: "\(root)/\(item)", toPath: "\(path)/\(item)")
        }
    }

    func edit(_ file: String, _ change: (String) -> String) throws {
        let full = "\(path)/\(file)"
        let before = try String(contentsOfFile: full, encoding: .utf8)
        let after = change(before)
        guard after != before else { throw ChildProgramError("edit of \(file) changed nothing") }
        try after.write(toFile: full, atomically: true, encoding: .utf8)
    }

    func write(_ file: String, _ text: String) throws {
        try text.write(toFile: "\(path)/\(file)", atomically: true, encoding: .utf8)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

struct ConfigSchemaTests {
    let root = Repository.root()

    func check(_ schema: String, _ files: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await ChildProgram.run("/usr/bin/env", ["python3", "contracts/check.py", "config", schema] + files, directory: root)
    }

    @Test func everyShippedExampleMatchesTheEditorSchemas() async throws {
        let fm = FileManager.default
        let mappings = try fm.contentsOfDirectory(atPath: "\(root)/mappings").filter { $0.hasSuffix(".yaml") }.map { "mappings/\($0)" }
        let connectors = try fm.contentsOfDirectory(atPath: "\(root)/connectors").filter { $0.hasSuffix(".yaml") }.map {
            "connectors/\($0)"
        }
        #expect(!mappings.isEmpty && !connectors.isEmpty)
        let mappingResult = try await check("contracts/config/mapping.schema.json", mappings)
        #expect(mappingResult.status == 0, "\(mappingResult.stdout)\(mappingResult.stderr)")
        let connectorResult = try await check("contracts/config/connector.schema.json", connectors)
        #expect(connectorResult.status == 0, "\(connectorResult.stdout)\(connectorResult.stderr)")
    }

    @Test func theSchemasRejectWhatValidateRejects() async throws {
        let copy = try ConfigCopy(from: root)
        defer { copy.remove() }
        try copy.edit("mappings/tour-agency.yaml") {
            $0.replacingOccurrences(
                of: "    conflict: lww                    # non-critical: last write wins", with: "    conflict: newest")
        }
        try copy.edit("connectors/tour-amocrm.yaml") {
            $0.replacingOccurrences(of: "poll:\n  interval: 60s", with: "poll:\n  intervall: 60s")
        }
        let mapping = try await check("contracts/config/mapping.schema.json", ["\(copy.path)/mappings/tour-agency.yaml"])
        #expect(mapping.status == 1)
        #expect(mapping.stdout.contains("/fields/title/conflict"), "\(mapping.stdout)")
        let connector = try await check("contracts/config/connector.schema.json", ["\(copy.path)/connectors/tour-amocrm.yaml"])
        #expect(connector.status == 1)
        #expect(connector.stdout.contains("intervall"), "\(connector.stdout)")
    }
}
