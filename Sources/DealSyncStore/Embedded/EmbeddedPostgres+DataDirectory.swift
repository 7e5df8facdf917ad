import Foundation

extension EmbeddedPostgres {
    /// Starts the durable cluster of a data directory, creating it on first use: PostgreSQL's durable defaults
    /// (`fsync`, `synchronous_commit`, `full_page_writes` on), kept when stopped.
    ///
    /// - Important: the caller holds the directory's `lock` (``DataDirectory/lock(as:timeout:)``). A postmaster still
    ///   running there was left behind by a holder that died, and is stopped first; a `postmaster.pid` whose process
    ///   is gone is removed. The watchdog that stops the cluster if this process dies holds the lock too, until it
    ///   has stopped it, so a successor never starts the cluster only to have it stopped under it.
    public static func open(_ directory: DataDirectory, holding lock: DataDirectory.Lock) throws -> EmbeddedPostgres {
        let installation = try PostgresInstallation.find()
        var runner = ChildProcess()
        var owner: (uid: uid_t, gid: gid_t)?
        if ChildProcess.isRoot {
            guard let account = ChildProcess.account("postgres") else { throw EmbeddedPostgresError.noUnprivilegedUser }
            runner.runAs = "postgres"
            owner = account
        }
        let fm = FileManager.default
        let data = directory.clusterPath
        let log = "\(directory.path)/postgres.log"
        do {
            try fm.createDirectory(atPath: data, withIntermediateDirectories: true)
        } catch {
            throw EmbeddedPostgresError.commandFailed("mkdir \(data)", status: -1, output: "\(error)")
        }
        if !fm.fileExists(atPath: log) { _ = fm.createFile(atPath: log, contents: nil) }
        if let owner {
            chown(data, owner.uid, owner.gid)
            chown(log, owner.uid, owner.gid)
        }
        chmod(data, 0o700)
        if !fm.fileExists(atPath: "\(data)/PG_VERSION") {
            try runner.run(
                installation.initdb,
                [
                    "-D", data, "-U", user, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-instructions",
                ])
        }
        try recoverStaleLock(directory, installation: installation, runner: runner)
        var lastError: (any Error)?
        for _ in 0..<5 {
            let port = try freePort()
            let settings = ["-p \(port)", "-c listen_addresses=127.0.0.1", "-k /tmp", "-c max_connections=200", "-c shared_buffers=64MB"]
            do {
                try runner.run(
                    installation.pgCtl,
                    [
                        "-D", data, "-l", log, "-w", "-t", "300", "-o", settings.joined(separator: " "), "start",
                    ])
            } catch {
                lastError = error
                continue
            }
            let watchdog = try? startWatchdog(
                data: data, installation: installation, runner: runner, removing: nil,
                keeping: lock.descriptor)
            let url = DatabaseURL(host: "127.0.0.1", port: port, user: user, database: "postgres")
            return EmbeddedPostgres(
                url: url, rootDirectory: directory.path, dataDirectory: data, installation: installation,
                runner: runner, watchdog: watchdog, removesRoot: false)
        }
        throw lastError ?? EmbeddedPostgresError.commandFailed("pg_ctl start", status: -1, output: "no free port")
    }

    /// Stops a postmaster that outlived the holder that started it, or removes the `postmaster.pid` of one that was
    /// killed (PostgreSQL would refuse to start if that pid now belonged to another postgres process).
    static func recoverStaleLock(_ directory: DataDirectory, installation: PostgresInstallation, runner: ChildProcess) throws {
        guard let pid = directory.postmasterPID() else { return }
        if DataDirectory.isAlive(pid), isPostgres(pid) {
            _ = try? runner.run(installation.pgCtl, ["-D", directory.clusterPath, "-m", "fast", "-w", "-t", "60", "stop"])
            if DataDirectory.isAlive(pid), isPostgres(pid) {
                _ = try? runner.run(installation.pgCtl, ["-D", directory.clusterPath, "-m", "immediate", "-w", "-t", "30", "stop"])
            }
        }
        if let left = directory.postmasterPID(), !(DataDirectory.isAlive(left) && isPostgres(left)) {
            unlink("\(directory.clusterPath)/postmaster.pid")
        }
    }

    /// Whether a live process is a PostgreSQL server (Linux: its command name).
    static func isPostgres(_ pid: pid_t) -> Bool {
        guard let name = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) else { return true }
        return name.hasPrefix("postgres")
    }
}
