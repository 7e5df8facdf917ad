import Foundation

/// Where the durable embedded default keeps its PostgreSQL cluster (`pgdata/`), and who is using it (`lock`).
///
/// One `dealsync serve` owns a data directory at a time, holding an exclusive `flock` on `lock` for its whole life
/// (the kernel releases it when the process dies, however it dies, so a killed gateway leaves no stale lock) and
/// writing `serve <pid>` into it. Database commands run without a URL find the cluster here: while `serve` holds
/// the lock they connect to its cluster (the port is in PostgreSQL's own `pgdata/postmaster.pid`); otherwise they
/// take the lock themselves (`command <pid>`), start the cluster for the command and stop it after.
public struct DataDirectory: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// `<config>/.dealsync`: beside the configuration it serves.
    public static func defaultPath(configDirectory: String) -> String {
        (configDirectory == "." ? "" : configDirectory + "/") + ".dealsync"
    }

    /// The PostgreSQL cluster.
    public var clusterPath: String { "\(path)/pgdata" }
    var lockPath: String { "\(path)/lock" }

    /// Who holds a data directory.
    public enum Role: String, Sendable {
        case serve
        case command
    }

    public struct Holder: Sendable, Equatable {
        public var role: Role
        public var pid: pid_t
    }

    /// The running cluster, as its own `postmaster.pid` tells: the postmaster's pid and port, when it is alive and
    /// ready for connections.
    public struct RunningCluster: Sendable, Equatable {
        public var pid: pid_t
        public var port: Int
    }

    /// The directory's lock, held until ``release()`` or the end of the process.
    public final class Lock: Sendable {
        let descriptor: Int32

        init(descriptor: Int32) { self.descriptor = descriptor }

        public func release() {
            ftruncate(descriptor, 0)
            close(descriptor)
        }
    }

    /// Takes the lock as `role`, or returns who holds it. Never waits.
    public func tryLock(as role: Role) throws -> Result<Lock, HolderError> {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        // Close-on-exec: `pg_ctl start` leaves a daemon behind that would otherwise inherit the lock and hold it
        // after this process is gone.
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw EmbeddedPostgresError.commandFailed("open \(lockPath)", status: errno, output: String(cString: strerror(errno)))
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            return .failure(HolderError(directory: path, holder: holder()))
        }
        let record = "\(role.rawValue) \(getpid())\n"
        ftruncate(descriptor, 0)
        _ = record.withCString { pwrite(descriptor, $0, strlen($0), 0) }
        return .success(Lock(descriptor: descriptor))
    }

    /// Takes the lock as `role`, waiting up to `timeout` while a database command holds it (or the watchdog of a
    /// killed `serve` stops its cluster); a live `serve` holding it is refused at once.
    public func lock(as role: Role, timeout: Duration = .seconds(60)) async throws -> Lock {
        let deadline = ContinuousClock.now + timeout
        while true {
            switch try tryLock(as: role) {
            case .success(let lock): return lock
            case .failure(let error):
                // A serve whose pid is gone is dead; its watchdog holds the lock until it has stopped the cluster.
                if let holder = error.holder, holder.role == .serve, Self.isAlive(holder.pid) { throw error }
                if ContinuousClock.now >= deadline { throw error }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Who holds the lock now, as written in it (`nil` when nobody holds it, or the holder has not written yet).
    public func holder() -> Holder? {
        let descriptor = open(lockPath, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        // Held? A shared lock would succeed only when nobody holds the exclusive one.
        if flock(descriptor, LOCK_SH | LOCK_NB) == 0 {
            flock(descriptor, LOCK_UN)
            return nil
        }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(descriptor, &buffer, buffer.count)
        guard count > 0 else { return nil }
        let words = String(decoding: buffer[0..<count], as: UTF8.self).split(whereSeparator: \.isWhitespace)
        guard words.count == 2, let role = Role(rawValue: String(words[0])), let pid = pid_t(words[1]) else { return nil }
        return Holder(role: role, pid: pid)
    }

    /// The cluster in this directory, when its postmaster is alive and ready.
    public func runningCluster() -> RunningCluster? {
        guard let lines = postmasterLines(), lines.count >= 8, let pid = pid_t(lines[0]), let port = Int(lines[3]),
            Self.isAlive(pid), lines[7].trimmingCharacters(in: .whitespaces) == "ready"
        else { return nil }
        return RunningCluster(pid: pid, port: port)
    }

    /// `postmaster.pid`: pid, data directory, start time, port, socket directory, listen address, shared memory key,
    /// status.
    func postmasterLines() -> [String]? {
        guard let text = try? String(contentsOfFile: "\(clusterPath)/postmaster.pid", encoding: .utf8) else { return nil }
        return text.components(separatedBy: "\n")
    }

    /// The pid `postmaster.pid` names, alive or not.
    func postmasterPID() -> pid_t? { postmasterLines()?.first.flatMap { pid_t($0) } }

    static func isAlive(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    /// The directory is held by someone else.
    public struct HolderError: Error, CustomStringConvertible, Sendable {
        public var directory: String
        public var holder: Holder?

        public var description: String {
            switch holder?.role {
            case .serve?:
                "another dealsync serve (pid \(holder!.pid)) is running on the data directory \(directory): stop it first, "
                    + "or give this one its own --data-dir (or a --database-url shared by both)"
            case .command?:
                "a dealsync command (pid \(holder!.pid)) is using the data directory \(directory); try again when it is done"
            case nil:
                "the data directory \(directory) is in use by another process"
            }
        }
    }
}

// MARK: Using the cluster

extension DataDirectory {
    /// Runs `body` with the cluster of a `dealsync serve` for its whole life: takes the lock (refused while another
    /// `serve` holds it; waits for a database command), starts the cluster, and stops it and releases the lock after.
    public func withServeCluster<T: Sendable>(_ body: (EmbeddedPostgres) async throws -> T) async throws -> T {
        let lock = try await lock(as: .serve)
        defer { lock.release() }
        let cluster = try EmbeddedPostgres.open(self, holding: lock)
        defer { cluster.stop() }
        return try await body(cluster)
    }

    /// Runs `body` for one database command: with the running `serve`'s cluster when there is one, else with the
    /// cluster started for the command (`started` is true; it is stopped after).
    public func withCommandCluster<T: Sendable>(
        timeout: Duration = .seconds(60), _ body: (_ url: DatabaseURL, _ started: Bool) async throws -> T
    ) async throws -> T {
        let deadline = ContinuousClock.now + timeout
        while true {
            switch try tryLock(as: .command) {
            case .success(let lock):
                defer { lock.release() }
                let cluster = try EmbeddedPostgres.open(self, holding: lock)
                defer { cluster.stop() }
                return try await body(cluster.url, true)
            case .failure(let error):
                if let holder = error.holder, holder.role == .serve, Self.isAlive(holder.pid), let running = runningCluster() {
                    return try await body(
                        DatabaseURL(
                            host: "127.0.0.1", port: running.port, user: EmbeddedPostgres.user,
                            database: "postgres"), false)
                }
                // A serve still starting its cluster, the watchdog of a killed one stopping it, another command, or
                // a holder not yet written: wait.
                if ContinuousClock.now >= deadline { throw error }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}
