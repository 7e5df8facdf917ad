import DealSyncStore
import Foundation
import Synchronization

/// A program run by a test: the `dealsync` binary, a simulator, a tool. Output goes to files, never pipes, so a
/// daemon it leaves behind cannot keep the test waiting.
public final class ChildProgram: Sendable {
    public let pid: pid_t
    public let stdoutPath: String
    public let stderrPath: String
    private let exitStatus = Mutex<Int32?>(nil)

    /// Starts `executable` with `arguments`, in `directory`, with `environment` added to this process's own.
    public init(_ executable: String, _ arguments: [String], directory: String? = nil, environment: [String: String] = [:]) throws {
        let base = NSTemporaryDirectory() + "dealsync-test-\(UUID().uuidString)"
        stdoutPath = base + ".out"
        stderrPath = base + ".err"
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        posix_spawn_file_actions_addopen(&fileActions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fileActions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&fileActions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        // Glibc's module does not export posix_spawn_file_actions_addchdir_np: change directory through sh.
        let command =
            directory.map { ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", $0, executable] + arguments }
            ?? [executable] + arguments
        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        // The child starts with no signal blocked and the usual dispositions: the Swift runtime's threads block
        // signals, and a mask or an ignored signal survives exec (pgbench's -T, for one, ends on SIGALRM).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGALRM, SIGTERM, SIGINT, SIGHUP, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let result = posix_spawn(&pid, command[0], &fileActions, &attributes, argv, envp)
        guard result == 0 else { throw ChildProgramError("cannot start \(executable): \(String(cString: strerror(result)))") }
        self.pid = pid
    }

    /// Runs to completion and returns (status, stdout, stderr).
    public static func run(
        _ executable: String, _ arguments: [String], directory: String? = nil,
        environment: [String: String] = [:]
    ) async throws -> (status: Int32, stdout: String, stderr: String) {
        let program = try ChildProgram(executable, arguments, directory: directory, environment: environment)
        let status = await program.wait()
        return (status, program.stdout, program.stderr)
    }

    public var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    public var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Waits for exit without blocking a cooperative thread; returns the exit status (128+signal when killed).
    public func wait() async -> Int32 {
        while true {
            if let status = poll() { return status }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The exit status if the program has ended.
    public func poll() -> Int32? {
        exitStatus.withLock { stored in
            if let stored { return stored }
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            guard result == pid else { return nil }
            let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            stored = code
            return code
        }
    }

    public func signal(_ signal: Int32) { kill(pid, signal) }

    deinit {
        if exitStatus.withLock({ $0 }) == nil {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        unlink(stdoutPath)
        unlink(stderrPath)
    }
}

public struct ChildProgramError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Paths of the repository and of the built products, for tests that run the real binary.
public enum Repository {
    /// The repository root, from a test file's `#filePath`.
    public static func root(from filePath: String = #filePath) -> String {
        var url = URL(fileURLWithPath: filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
        }
        return FileManager.default.currentDirectoryPath
    }

    /// The built `dealsync` binary next to the test bundle.
    public static func dealsyncBinary() throws -> String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [
            bundle.appendingPathComponent("dealsync").path,
            bundle.deletingLastPathComponent().appendingPathComponent("dealsync").path,
        ] {
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw ChildProgramError("the dealsync binary was not built next to the tests (\(bundle.path)); run `swift build` first")
    }
}

/// A free loopback port, for a server whose address others must know before it starts.
public enum FreePort {
    public static func pick() throws -> Int { try EmbeddedPostgres.freePort() }
}

/// Waits until `condition` holds, checking `every` 100 ms (or as given), for at most `timeout`; the error names
/// what was awaited.
public func eventually(
    _ what: String, timeout: Duration = .seconds(20), every interval: Duration = .milliseconds(100),
    _ condition: @Sendable () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: interval)
    }
    throw ChildProgramError("timed out after \(timeout) waiting until \(what)")
}

/// Writes `files` (path relative to `directory`, text) into `directory`, creating folders as needed: a test's own
/// `connectors/` and `mappings/`.
public func writeFiles(_ files: [(path: String, text: String)], into directory: String) throws {
    for (path, text) in files {
        let url = URL(fileURLWithPath: directory).appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data((text + "\n").utf8).write(to: url)
    }
}
