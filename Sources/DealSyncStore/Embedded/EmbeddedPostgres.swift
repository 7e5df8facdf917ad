import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// A PostgreSQL cluster of dealsync's own on a free loopback port: a throwaway one in a temporary directory, fast
/// and not durable, for the demo and the tests (``start(options:)``), or the durable default kept in a data
/// directory (``open(_:)``).
///
/// `initdb` and `postgres` refuse to run as root; when dealsync is root they run as the `postgres` system user
/// with a data directory that account owns. A watchdog stops the cluster and removes its directory if this
/// process dies without calling ``stop()``.
public final class EmbeddedPostgres: Sendable {
    public struct Options: Sendable {
        /// Durability costs time the demo and the tests do not need; a crash of the cluster loses the demo only.
        public var fsync: Bool = false
        /// Whether a commit waits for its WAL to be written (not flushed, unless `fsync`). With it, a commit
        /// survives a crash of PostgreSQL itself (`pg_ctl stop -m immediate`), though not of the machine: what
        /// the crash tests need, at a fraction of `fsync`'s cost. Always on with `fsync`.
        public var synchronousCommit: Bool = false
        public var maxConnections: Int = 200
        /// More server settings (`name=value`), after and over the ones above: the benchmark compares settings
        /// with them.
        public var settings: [String] = []

        public init(fsync: Bool = false, synchronousCommit: Bool = false, maxConnections: Int = 200, settings: [String] = []) {
            self.fsync = fsync
            self.synchronousCommit = synchronousCommit
            self.maxConnections = maxConnections
            self.settings = settings
        }

        /// The server settings for `pg_ctl start -o`.
        func settings(port: Int, socketDirectory: String) -> String {
            var settings = [
                "-p \(port)", "-c listen_addresses=127.0.0.1", "-k \(socketDirectory)", "-c max_connections=\(maxConnections)",
                "-c shared_buffers=64MB",
            ]
            if !fsync {
                settings += ["-c fsync=off", "-c full_page_writes=off"]
                if !synchronousCommit { settings.append("-c synchronous_commit=off") }
            }
            settings += self.settings.map { "-c \($0)" }
            return settings.joined(separator: " ")
        }
    }

    /// The cluster's superuser connection to the `postgres` database (trust authentication on loopback).
    public let url: DatabaseURL
    public let rootDirectory: String
    let dataDirectory: String
    let installation: PostgresInstallation
    let runner: ChildProcess
    private let watchdog: pid_t?
    /// Whether ``stop()`` removes ``rootDirectory`` (a throwaway cluster) or keeps it (a data directory).
    private let removesRoot: Bool
    /// The server settings it was started with, for ``restart()``.
    private let settings: String

    public static let user = "dealsync"

    init(
        url: DatabaseURL, rootDirectory: String, dataDirectory: String, installation: PostgresInstallation, runner: ChildProcess,
        watchdog: pid_t?, removesRoot: Bool, settings: String = ""
    ) {
        self.url = url
        self.rootDirectory = rootDirectory
        self.dataDirectory = dataDirectory
        self.installation = installation
        self.runner = runner
        self.watchdog = watchdog
        self.removesRoot = removesRoot
        self.settings = settings
    }

    /// Creates and starts a cluster. Takes a second or two.
    public static func start(options: Options = Options()) throws -> EmbeddedPostgres {
        let installation = try PostgresInstallation.find()
        var runner = ChildProcess()
        var owner: (uid: uid_t, gid: gid_t)?
        if ChildProcess.isRoot {
            guard let account = ChildProcess.account("postgres") else { throw EmbeddedPostgresError.noUnprivilegedUser }
            runner.runAs = "postgres"
            owner = account
        }
        let root = try makeTemporaryDirectory(owner: owner)
        let data = "\(root)/data"
        do {
            try runner.run(
                installation.initdb,
                [
                    "-D", data, "-U", user, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
                ])
            var lastError: (any Error)?
            for _ in 0..<5 {
                let port = try freePort()
                let settings = options.settings(port: port, socketDirectory: root)
                do {
                    try runner.run(
                        installation.pgCtl,
                        [
                            "-D", data, "-l", "\(root)/postgres.log", "-w", "-t", "60", "-o", settings, "start",
                        ])
                } catch {
                    lastError = error
                    continue
                }
                let watchdog = try? startWatchdog(data: data, installation: installation, runner: runner, removing: root)
                let url = DatabaseURL(host: "127.0.0.1", port: port, user: user, database: "postgres")
                return EmbeddedPostgres(
                    url: url, rootDirectory: root, dataDirectory: data, installation: installation, runner: runner,
                    watchdog: watchdog, removesRoot: true, settings: settings)
            }
            throw lastError ?? EmbeddedPostgresError.commandFailed("pg_ctl start", status: -1, output: "no free port")
        } catch {
            try? FileManager.default.removeItem(atPath: root)
            throw error
        }
    }

    /// The server's main process (`postmaster.pid`), while it runs.
    public var postmasterPID: pid_t? {
        guard let text = try? String(contentsOfFile: "\(dataDirectory)/postmaster.pid", encoding: .utf8) else { return nil }
        return text.split(separator: "\n").first.flatMap { pid_t($0) }
    }

    /// Stops the cluster and, for a throwaway one, removes its directory.
    public func stop() {
        _ = try? runner.run(installation.pgCtl, ["-D", dataDirectory, "-m", "fast", "-w", "-t", "30", "stop"])
        if let watchdog {
            kill(watchdog, SIGTERM)
            var status: Int32 = 0
            waitpid(watchdog, &status, 0)
        }
        if removesRoot { try? FileManager.default.removeItem(atPath: rootDirectory) }
    }

    // MARK: Outages, for the tests that cause them

    /// Stops the server and leaves the cluster in place (``restart()`` brings it back on the same port).
    /// `immediate` is a crash: every server process ends at once, nothing is flushed and the next start recovers
    /// from the WAL; `fast` disconnects every client and shuts down cleanly.
    public func halt(mode: HaltMode = .immediate) throws {
        try runner.run(installation.pgCtl, ["-D", dataDirectory, "-m", mode.rawValue, "-w", "-t", "60", "stop"])
    }

    public enum HaltMode: String, Sendable {
        case immediate, fast
    }

    /// Starts a halted server again, on the same port and settings; returns once it accepts connections.
    public func restart() throws {
        try runner.run(
            installation.pgCtl,
            [
                "-D", dataDirectory, "-l", "\(rootDirectory)/postgres.log", "-w", "-t", "60", "-o", settings, "start",
            ])
    }

    /// Creates a database owned by the cluster's superuser and returns its URL.
    public func createDatabase(_ name: String, logger: Logger) async throws -> DatabaseURL {
        let connection = try await PostgresConnection.connect(
            on: PostgresConnection.defaultEventLoopGroup.any(),
            configuration: .init(host: url.host, port: url.port, username: url.user, password: nil, database: url.database, tls: .disable),
            id: 1, logger: logger
        ).get()
        let quoted = name.replacingOccurrences(of: "\"", with: "")
        do {
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \"\(quoted)\""), logger: logger)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
        return url.with(database: name)
    }

    private static func makeTemporaryDirectory(owner: (uid: uid_t, gid: gid_t)?) throws -> String {
        var template = Array("/tmp/dealsync-pg-XXXXXX".utf8CString)
        guard let pointer = mkdtemp(&template) else {
            throw EmbeddedPostgresError.commandFailed("mkdtemp", status: errno, output: "cannot create a temporary directory")
        }
        let path = String(cString: pointer)
        if let owner {
            chown(path, owner.uid, owner.gid)
        }
        chmod(path, 0o700)
        return path
    }

    /// Asks the kernel for a free loopback port.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw EmbeddedPostgresError.commandFailed("socket", status: errno, output: "") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw EmbeddedPostgresError.commandFailed("bind", status: errno, output: "") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// A shell loop that outlives us only long enough to stop the cluster when this process is gone, and to remove
    /// `removing` (a throwaway cluster's directory; `nil` keeps a data directory, stopped cleanly). It holds
    /// `keeping` (a data directory's lock) until the cluster is stopped, so no one starts it again meanwhile.
    static func startWatchdog(
        data: String, installation: PostgresInstallation, runner: ChildProcess, removing root: String?,
        keeping lock: Int32? = nil
    ) throws -> pid_t {
        let parent = getpid()
        let stop = runner.runAs.map { "/usr/sbin/runuser -u \($0) -- " } ?? ""
        let script = """
            while kill -0 \(parent) 2>/dev/null; do sleep 1; done
            \(stop)'\(installation.pgCtl)' -D '\(data)' -m \(root == nil ? "fast" : "immediate") -w -t 60 stop >/dev/null 2>&1
            \(root.map { "rm -rf '\($0)'" } ?? "")
            """
        return try ChildProcess().spawnDetached("/bin/sh", ["-c", script], keeping: lock)
    }
}
