import DealSyncCore
import Foundation

/// Runs the PostgreSQL programs, as the `postgres` system user when dealsync runs as root.
///
/// Uses `posix_spawn` and `waitpid` rather than Foundation's `Process`: `pg_ctl start` leaves a daemon behind
/// that inherits descriptors, and `Process` waits for its monitoring descriptor to close, which then never
/// happens.
struct ChildProcess {
    /// The account to run as (`nil`: as ourselves).
    var runAs: String?

    /// Runs to completion and returns the combined output; throws when the exit status is not 0.
    @discardableResult
    func run(_ executable: String, _ arguments: [String]) throws(EmbeddedPostgresError) -> String {
        let name = (executable as NSString).lastPathComponent
        let outputPath = NSTemporaryDirectory() + "dealsync-child-\(UUID().uuidString).log"
        defer { unlink(outputPath) }
        let pid: pid_t
        do {
            pid = try spawn(executable, arguments, outputPath: outputPath)
        } catch {
            throw .commandFailed(name, status: -1, output: "\(error)")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let exited = (status & 0x7f) == 0
        let code = exited ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        guard code == 0 else { throw .commandFailed(name, status: code, output: output) }
        return output
    }

    /// Starts without waiting (the watchdog); returns its process id. `keeping` is a descriptor the child holds
    /// open as its descriptor 3 (a lock it keeps until it exits).
    func spawnDetached(_ executable: String, _ arguments: [String], keeping descriptor: Int32? = nil) throws -> pid_t {
        try spawn(executable, arguments, outputPath: "/dev/null", keeping: descriptor)
    }

    private func spawn(_ executable: String, _ arguments: [String], outputPath: String, keeping descriptor: Int32? = nil) throws -> pid_t {
        let argv: [String] =
            if let runAs { ["/usr/sbin/runuser", "-u", runAs, "--", executable] + arguments } else { [executable] + arguments }
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        posix_spawn_file_actions_addopen(&fileActions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fileActions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&fileActions, 1, 2)
        if let descriptor { posix_spawn_file_actions_adddup2(&fileActions, descriptor, 3) }
        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, argv[0], &fileActions, nil, cArgs, environ)
        guard result == 0 else {
            throw EmbeddedPostgresError.commandFailed(
                (argv[0] as NSString).lastPathComponent, status: result,
                output: String(cString: strerror(result)))
        }
        return pid
    }

    /// Whether the current process is root.
    static var isRoot: Bool { geteuid() == 0 }

    /// The uid and gid of a system account, if it exists.
    static func account(_ name: String) -> (uid: uid_t, gid: gid_t)? {
        guard let entry = getpwnam(name) else { return nil }
        return (entry.pointee.pw_uid, entry.pointee.pw_gid)
    }
}
