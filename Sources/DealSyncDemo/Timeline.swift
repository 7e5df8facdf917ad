import Foundation
import Synchronization

/// The demo's narration: what happens, as it happens, and the checks it makes.
public final class Timeline: Sendable {
    private let started = ContinuousClock.now
    private let results = Mutex<(passed: Int, failed: [String])>((0, []))
    public let write: @Sendable (String) -> Void

    public init(write: @escaping @Sendable (String) -> Void = { print($0) }) {
        self.write = write
    }

    var elapsed: String {
        let duration = started.duration(to: .now)
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return String(format: "%6.1fs", seconds)
    }

    /// A chapter heading.
    func chapter(_ title: String) {
        write("")
        write("── \(title)")
    }

    /// Something that happened.
    func event(_ who: String, _ what: String) {
        write("[\(elapsed)] \(who.padding(toLength: 10, withPad: " ", startingAt: 0)) \(what)")
    }

    /// A check of the end state.
    func check(_ description: String, _ passed: Bool, detail: String = "") {
        results.withLock { r in
            if passed { r.passed += 1 } else { r.failed.append(description) }
        }
        write("[\(elapsed)] \(passed ? "check ✓" : "check ✗")    \(description)\(detail.isEmpty ? "" : " — \(detail)")")
    }

    public var passed: Int { results.withLock { $0.passed } }
    public var failed: [String] { results.withLock { $0.failed } }

    public var summary: String { "demo: \(passed) checks passed, \(failed.count) failed" }
}
