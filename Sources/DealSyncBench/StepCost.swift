import DealSyncStore
import Foundation
import Logging
import PostgresNIO

/// What one step of the run cost the pipeline, per change: `serve`'s CPU, PostgreSQL's CPU (every server process
/// of the cluster), and PostgreSQL's commits and statements (`pg_stat_statements`, which the benchmark's cluster
/// loads), counted until what the step caused is done. At a few hundred changes a second and in drains they swing
/// less than latencies, which follow how the two cores happen to be shared; at light load they are mostly what runs
/// whatever the load (lanes and relays looking, presence), so they move with how long the step took to settle.
struct StepCost {
    var serveCPU = 0.0
    var databaseCPU = 0.0
    var commits = 0.0
    /// Nil when the cluster was started without `pg_stat_statements`.
    var statements: Double?

    /// The counters now.
    static func sample(gateway: GatewayProcess, cluster: EmbeddedPostgres, database: Database, logger: Logger) async throws -> StepCost {
        var cost = StepCost(serveCPU: gateway.cpuSeconds(), databaseCPU: ProcessCPU.tree(of: cluster.postmasterPID))
        // What a backend counted is published when its transaction ends, at most once a second while it is busy:
        // the caller waits a little after the step before sampling.
        let commits = try await database.client.query(
            "SELECT (xact_commit + xact_rollback)::float8 FROM pg_stat_database WHERE datname = current_database()", logger: logger)
        for try await count in commits.decode(Double.self) { cost.commits = count }
        var counting = false
        for try await found in try await database.client.query(
            "SELECT to_regclass('pg_stat_statements') IS NOT NULL", logger: logger
        ).decode(Bool.self) { counting = found }
        guard counting else { return cost }
        let statements = try await database.client.query(
            """
            SELECT coalesce(sum(calls), 0)::float8 FROM pg_stat_statements
            WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            """, logger: logger)
        for try await count in statements.decode(Double.self) { cost.statements = count }
        return cost
    }

    /// What was spent from `start` to `self`, per change of `changes`.
    func since(_ start: StepCost, changes: Int) -> StepCost {
        let n = Double(max(changes, 1))
        return StepCost(
            serveCPU: (serveCPU - start.serveCPU) / n, databaseCPU: (databaseCPU - start.databaseCPU) / n,
            commits: (commits - start.commits) / n,
            statements: statements.flatMap { end in start.statements.map { (end - $0) / n } })
    }

    /// One line, per change.
    var line: String {
        String(
            format: "serve %.2f ms of CPU, PostgreSQL %.2f ms of CPU, %.1f commits, %@ statements",
            serveCPU * 1000, databaseCPU * 1000, commits, statements.map { String(format: "%.1f", $0) } ?? "(not counted)")
    }
}

/// CPU time of processes, read from `/proc`.
enum ProcessCPU {
    /// User and system seconds of `pid` and every process whose parent it is, including what its children that
    /// already ended used (their parent collected it).
    static func tree(of pid: pid_t?) -> Double {
        guard let pid else { return 0 }
        var total = 0.0
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let child = pid_t(entry), let fields = stat(of: child) else { continue }
            if child == pid {
                // utime, stime, cutime, cstime: fields 14 to 17.
                total += fields[11] + fields[12] + fields[13] + fields[14]
            } else if fields[1] == Double(pid) {
                total += fields[11] + fields[12]
            }
        }
        return total / ticksPerSecond
    }

    static var ticksPerSecond: Double { Double(sysconf(Int32(_SC_CLK_TCK))) }

    /// The numeric fields of `/proc/<pid>/stat` after the command, from field 3 (state, read as NaN) on.
    static func stat(of pid: pid_t) -> [Double]? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let end = text.lastIndex(of: ")") else {
            return nil
        }
        let fields = text[text.index(after: end)...].split(separator: " ").map { Double($0) ?? .nan }
        return fields.count > 15 ? fields : nil
    }
}
