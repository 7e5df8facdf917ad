import DealSyncCore
import Foundation

/// Where the PostgreSQL server programs (`initdb`, `pg_ctl`) are.
public struct PostgresInstallation: Sendable {
    public var binDirectory: String

    public var initdb: String { "\(binDirectory)/initdb" }
    public var pgCtl: String { "\(binDirectory)/pg_ctl" }

    /// Whether the server's loadable library `name` (`pg_stat_statements`) is installed beside its programs.
    public func hasLibrary(_ name: String) -> Bool {
        let programs = URL(fileURLWithPath: initdb).resolvingSymlinksInPath().deletingLastPathComponent()
        let library = programs.deletingLastPathComponent().appendingPathComponent("lib/\(name).so")
        return FileManager.default.fileExists(atPath: library.path)
    }

    /// Finds the server programs on `PATH` or in the standard install locations, newest version first.
    public static func find(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(EmbeddedPostgresError) -> PostgresInstallation {
        let fm = FileManager.default
        var candidates: [String] = []
        if let bin = environment["DEALSYNC_PG_BIN"], !bin.isEmpty { candidates.append(bin) }
        candidates += (environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for root in ["/usr/lib/postgresql", "/usr/local/lib/postgresql"] {
            let versions = ((try? fm.contentsOfDirectory(atPath: root)) ?? [])
                .compactMap { Int($0).map { ($0, "\(root)/\($0)/bin") } }
                .sorted { $0.0 > $1.0 }
            candidates += versions.map(\.1)
        }
        candidates += ["/usr/local/pgsql/bin", "/opt/homebrew/bin", "/usr/pgsql/bin"]
        for directory in candidates
        where fm.isExecutableFile(atPath: "\(directory)/initdb") && fm.isExecutableFile(atPath: "\(directory)/pg_ctl") {
            return PostgresInstallation(binDirectory: directory)
        }
        throw .notInstalled
    }
}

/// Problems starting the private PostgreSQL.
public enum EmbeddedPostgresError: Error, CustomStringConvertible, Sendable {
    case notInstalled
    case noUnprivilegedUser
    case commandFailed(String, status: Int32, output: String)

    public var description: String {
        switch self {
        case .notInstalled:
            "PostgreSQL is not installed: dealsync starts a private PostgreSQL (initdb, pg_ctl) when no database URL "
                + "is given. Install the Debian package 'postgresql' (apt-get install -y postgresql) or pass --database-url."
        case .noUnprivilegedUser:
            "PostgreSQL refuses to run as root and there is no 'postgres' system user to run it as: "
                + "install the Debian package 'postgresql' (it creates the user) or run dealsync as a normal user."
        case .commandFailed(let command, let status, let output):
            "\(command) failed with exit status \(status): \(output.suffix(600))"
        }
    }
}
