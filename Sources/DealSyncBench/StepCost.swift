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
    /// PostgreSQL's milliseconds spent planning statements; nil unless `pg_stat_statements.track_planning` is on
    /// (`DEALSYNC_BENCH_PG_SETTINGS="pg_stat_statements.track_planning=on"`; off by default, as it costs a little).
    var planning: Double?
    /// Each statement's calls and milliseconds of execution (and of planning, when tracked), by
    /// `pg_stat_statements`' query id (sampled only when the run keeps its logs, `DEALSYNC_BENCH_LOGS`: reading them
    /// costs the database what it measures).
    var byStatement: [Int64: Statement] = [:]

    struct Statement {
        var text: String
        var calls: Double
        var milliseconds: Double
        var planning = 0.0
    }

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
            SELECT coalesce(sum(calls), 0)::float8, coalesce(sum(total_plan_time), 0)::float8,
                coalesce(current_setting('pg_stat_statements.track_planning', true) = 'on', false)
            FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            """, logger: logger)
        for try await (count, planning, tracked) in statements.decode((Double, Double, Bool).self) {
            cost.statements = count
            cost.planning = tracked ? planning : nil
        }
        guard GatewayProcess.logDirectory != nil else { return cost }
        let each = try await database.client.query(
            """
            SELECT queryid, left(regexp_replace(query, '\\s+', ' ', 'g'), 110), calls::float8, total_exec_time, total_plan_time
            FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            """, logger: logger)
        for try await (id, text, calls, milliseconds, planning) in each.decode((Int64, String, Double, Double, Double).self) {
            cost.byStatement[id, default: Statement(text: text, calls: 0, milliseconds: 0)].calls += calls
            cost.byStatement[id, default: Statement(text: text, calls: 0, milliseconds: 0)].milliseconds += milliseconds
            cost.byStatement[id, default: Statement(text: text, calls: 0, milliseconds: 0)].planning += planning
        }
        return cost
    }

    /// The statements that took the most of PostgreSQL's time (execution, and planning when tracked) from `start`
    /// to `self`, one line each: their share, calls and milliseconds of execution per change of `changes`, its
    /// mean, and with planning tracked the milliseconds per change spent planning them.
    func topStatements(since start: StepCost, changes: Int, count: Int = 8) -> [String] {
        let planning = self.planning
        let n = Double(max(changes, 1))
        let spent = byStatement.map { id, end in
            let before = start.byStatement[id]
            return Statement(
                text: end.text, calls: end.calls - (before?.calls ?? 0), milliseconds: end.milliseconds - (before?.milliseconds ?? 0),
                planning: end.planning - (before?.planning ?? 0))
        }.filter { $0.calls > 0 }
        let total = spent.reduce(0) { $0 + $1.milliseconds + $1.planning }
        return spent.sorted { $0.milliseconds + $0.planning > $1.milliseconds + $1.planning }.prefix(count).map {
            String(
                format: "%4.1f%%  %5.2f calls/change  %6.3f ms/change  mean %6.3f ms  %@%@",
                100 * ($0.milliseconds + $0.planning) / max(total, 1e-9),
                $0.calls / n, $0.milliseconds / n, $0.milliseconds / $0.calls,
                planning == nil ? "" : String(format: "planning %6.3f ms/change  ", $0.planning / n), $0.text)
        }
    }

    /// What was spent from `start` to `self`, per change of `changes`.
    func since(_ start: StepCost, changes: Int) -> StepCost {
        let n = Double(max(changes, 1))
        return StepCost(
            serveCPU: (serveCPU - start.serveCPU) / n, databaseCPU: (databaseCPU - start.databaseCPU) / n,
            commits: (commits - start.commits) / n,
            statements: statements.flatMap { end in start.statements.map { (end - $0) / n } },
            planning: planning.flatMap { end in start.planning.map { (end - $0) / n } })
    }

    /// One line, per change.
    var line: String {
        String(
            format: "serve %.2f ms of CPU, PostgreSQL %.2f ms of CPU, %.1f commits, %@ statements",
            serveCPU * 1000, databaseCPU * 1000, commits, statements.map { String(format: "%.1f", $0) } ?? "(not counted)")
            + (planning.map { String(format: ", %.2f ms planning them", $0) } ?? "")
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
