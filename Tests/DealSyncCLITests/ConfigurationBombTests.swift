import DealSyncTestSupport
import Foundation
import Testing

/// `validate`, `serve` and `explain` read configuration through one reader, so an alias bomb in a mapping
/// is refused by each at its first alias, with its position, before anything expands it.
struct ConfigurationBombTests {
    let root = Repository.root()

    @Test(.timeLimit(.minutes(1)))
    func everyCommandThatReadsConfigurationRefusesAnAliasBomb() async throws {
        let copy = try ConfigCopy(from: root)
        defer { copy.remove() }
        // 9^9 strings described in a few hundred bytes, after the mapping's own keys.
        var bomb = "\nlol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for level in 1...9 {
            bomb += "lol\(level): &l\(level) [" + Array(repeating: "*l\(level - 1)", count: 9).joined(separator: ", ") + "]\n"
        }
        try copy.edit("mappings/tour-agency.yaml") { $0 + bomb }
        let lines = try String(contentsOfFile: copy.path + "/mappings/tour-agency.yaml", encoding: .utf8).split(
            separator: "\n", omittingEmptySubsequences: false)
        let line = try #require(lines.firstIndex { $0.hasPrefix("lol1:") }) + 1
        let expected =
            "\(copy.path)/mappings/tour-agency.yaml:\(line):12: YAML alias '*l0': aliases are not supported in dealsync configuration (write the value out)"
        let payload = copy.path + "/payload.txt"
        try "leads[add][0][id]=1".write(toFile: payload, atomically: true, encoding: .utf8)
        for arguments in [
            ["validate", copy.path], ["serve", "--config", copy.path, "--port", "0"],
            ["explain", "--config", copy.path, "--connector", "tour-amocrm", "--file", payload],
        ] {
            let result = try await ChildProgram.run(try Repository.dealsyncBinary(), arguments, environment: ["DATABASE_URL": ""])
            #expect(result.status == 1, "\(arguments[0]): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").map(String.init).contains(expected), "\(arguments[0]): \(result.stderr)")
        }
    }
}
