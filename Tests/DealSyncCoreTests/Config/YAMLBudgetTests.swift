import Foundation
import Testing

@testable import DealSyncCore

#if canImport(Glibc)
import Glibc
#endif

/// Configuration files built to exhaust the reader: refused with their position before the YAML library builds
/// a tree, in milliseconds of CPU whatever they describe.
struct YAMLBudgetTests {
    /// The classic alias bomb: each level a list of nine aliases of the level before; `levels` 9 describes
    /// 9^9 = 387 million strings in 2 KB (the reader before this test grew to 12 GB on one like it).
    static func aliasBomb(levels: Int) -> String {
        var lines = [
            "name: tour", "crm: amocrm", "pipeline: 100", "link_field: custom_fields.900001",
            #"a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]"#,
        ]
        for level in 1...levels {
            let previous = "*a\(level - 1)"
            lines.append("a\(level): &a\(level) [" + Array(repeating: previous, count: 9).joined(separator: ",") + "]")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func load(mapping text: String) -> [String] {
        do {
            _ = try ConfigurationLoader(environment: ConfigFixtures.environment).load(
                connectors: [], mappings: [.init(path: "m.yaml", text: text)])
            return []
        } catch {
            return error.diagnostics.map(\.description)
        }
    }

    static func threadCPUTime() -> Duration {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return .seconds(now.tv_sec) + .nanoseconds(now.tv_nsec)
    }

    @Test(.timeLimit(.minutes(1)), arguments: [4, 9])
    func anAliasBombIsRefusedAtItsFirstAliasInMilliseconds(levels: Int) {
        let start = Self.threadCPUTime()
        let problems = Self.load(mapping: Self.aliasBomb(levels: levels))
        let spent = Self.threadCPUTime() - start
        #expect(problems == ["m.yaml:6:10: YAML alias '*a0': aliases are not supported in dealsync configuration (write the value out)"])
        #expect(spent < .milliseconds(100), "refusing took \(spent) of CPU")
    }

    @Test func anAliasUsedAsAKeyIsRefusedToo() {
        let text = "name: tour\nbig: &big {a: 1}\n? *big\n: 1\n"
        #expect(
            Self.load(mapping: text) == [
                "m.yaml:3:3: YAML alias '*big': aliases are not supported in dealsync configuration (write the value out)"
            ])
    }

    @Test func aFileOverTheSizeLimitIsRefusedOnItsSize() {
        let text = "name: tour\n" + String(repeating: "# padding\n", count: (YAMLBudget.maxBytes / 10) + 1)
        #expect(
            Self.load(mapping: text) == [
                "m.yaml:1:1: the file is \(text.utf8.count) bytes; a configuration file may have at most 2097152 (2 MiB)"
            ])
    }

    @Test func tooManyNodesOrTooDeepAreRefusedWhereTheLimitIsCrossed() {
        let flat = "name: [" + Array(repeating: "1", count: YAMLBudget.maxNodes).joined(separator: ",") + "]\n"
        let column = 8 + 2 * (YAMLBudget.maxNodes - 3)  // the scalar that is one node too many (after the document, `name` and the list)
        #expect(
            Self.load(mapping: flat) == ["m.yaml:1:\(column): more than 150000 YAML nodes: a configuration file may have at most that many"]
        )
        let deep = "name: " + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "\n"
        #expect(Self.load(mapping: deep) == ["m.yaml:1:38: nested deeper than 32 levels: a configuration file may nest at most that deep"])
    }

    @Test func aHugeOwnersListIsRefusedAtTheFirstEntryPastTheLimit() {
        let owners = (0...MappingReader.maxOwners).map { "  - {master: u-\($0), crm: \($0 + 1)}" }.joined(separator: "\n")
        let text = ConfigFixtures.tourMapping.replacingOccurrences(of: "owners:\n", with: "owners:\n\(owners)\n", options: [], range: nil)
        let problems = Self.load(mapping: text)
        #expect(problems.count == 1)
        #expect(problems.first?.hasSuffix("owners: more than 10000 entries; a mapping may list at most that many") == true, "\(problems)")
    }

    @Test func aLargeDirectoryFileIsRefusedWithoutBeingRead() throws {
        let directory = NSTemporaryDirectory() + "dealsync-budget-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/connectors", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/mappings", withIntermediateDirectories: true)
        let path = directory + "/mappings/owners.yaml"
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: 60 << 20)  // a sparse 60 MiB file
        try handle.close()
        let error = #expect(throws: ConfigurationError.self) { try ConfigurationLoader(environment: [:]).load(directory: directory) }
        #expect(
            error?.diagnostics.map(\.description).contains(
                "\(path):1:1: the file is 62914560 bytes; a configuration file may have at most 2097152 (2 MiB)") == true)
    }
}
