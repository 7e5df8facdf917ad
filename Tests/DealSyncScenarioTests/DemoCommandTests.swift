import DealSyncTestSupport
import Foundation
import Testing

/// `dealsync demo`, the README's first command without its set-up: the whole story on the embedded default (a
/// private PostgreSQL and the built-in simulators), checking itself, to its summary line.
struct DemoCommandTests {
    @Test(.timeLimit(.minutes(3)))
    func theDemoRunsItsStoryAndPassesEveryCheck() async throws {
        // The suite runs many tests at once on two cores: each step may wait three times its usual limit.
        let result = try await ChildProgram.run(
            try Repository.dealsyncBinary(), ["demo", "--config", Repository.root(from: #filePath), "--patience", "3"])
        let failed = result.stdout.split(separator: "\n").filter { $0.contains("✗") }.joined(separator: "\n")
        #expect(result.status == 0, "\(failed)\n\(result.stdout.suffix(3000))\(result.stderr.suffix(2000))")
        let summary = result.stdout.split(separator: "\n").last { $0.hasPrefix("demo: ") }.map(String.init)
        #expect(summary?.hasSuffix("checks passed, 0 failed") == true, "\(summary ?? "no summary")")
        let passed = summary.flatMap { Int($0.dropFirst("demo: ".count).prefix { $0.isNumber }) } ?? 0
        #expect(passed >= 19, "every chapter checked itself: \(summary ?? "no summary")")
    }

    @Test func aPatienceOfNothingIsRefusedBeforeAnythingStarts() async throws {
        for patience in ["0", "-1", "nan"] {
            let result = try await ChildProgram.run(try Repository.dealsyncBinary(), ["demo", "--patience=\(patience)"])
            #expect(result.status != 0, "--patience \(patience)")
            #expect(result.stderr.contains("--patience must be a number above 0"), "\(result.stderr)")
            #expect(!result.stdout.contains("private cluster"), "nothing was started")
        }
    }
}
