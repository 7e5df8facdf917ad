import DealSyncTestSupport
import Foundation
import Testing

/// `dealsync demo`, the README's first command without its set-up: the whole story on the embedded default (a
/// private PostgreSQL and the built-in simulators), checking itself, to its summary line.
struct DemoCommandTests {
    @Test(.timeLimit(.minutes(3)))
    func theDemoRunsItsStoryAndPassesEveryCheck() async throws {
        let result = try await ChildProgram.run(try Repository.dealsyncBinary(), ["demo", "--config", Repository.root(from: #filePath)])
        let failed = result.stdout.split(separator: "\n").filter { $0.contains("✗") }.joined(separator: "\n")
        #expect(result.status == 0, "\(failed)\n\(result.stdout.suffix(3000))\(result.stderr.suffix(2000))")
        let summary = result.stdout.split(separator: "\n").last { $0.hasPrefix("demo: ") }.map(String.init)
        #expect(summary?.hasSuffix("checks passed, 0 failed") == true, "\(summary ?? "no summary")")
        let passed = summary.flatMap { Int($0.dropFirst("demo: ".count).prefix { $0.isNumber }) } ?? 0
        #expect(passed >= 19, "every chapter checked itself: \(summary ?? "no summary")")
    }
}
