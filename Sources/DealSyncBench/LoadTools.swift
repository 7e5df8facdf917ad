import DealSyncTestSupport
import Foundation

/// `wrk` and `pgbench`, run as processes of their own, and what they print turned into figures.
enum LoadTools {
    struct WrkResult {
        var requestsPerSecond = 0.0
        var p50 = Double.nan, p99 = Double.nan
        var requests = 0
        var non2xx = 0
        var socketErrors = 0
    }

    /// `wrk -t1 -c<connections> -d<seconds>s --latency [-s script] url`.
    static func wrk(_ url: String, connections: Int = 32, seconds: Int = 10, script: String? = nil) async throws -> WrkResult {
        var arguments = ["-t1", "-c\(connections)", "-d\(seconds)s", "--latency", "--timeout", "10s"]
        if let script { arguments += ["-s", script] }
        let (status, output, errors) = try await ChildProgram.run("/usr/bin/wrk", arguments + [url])
        guard status == 0 else { throw BenchError("wrk failed (\(status)): \(errors.prefix(300))") }
        var result = WrkResult()
        for line in output.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            if line.hasPrefix("Requests/sec:"), let value = words.last.flatMap(Double.init) { result.requestsPerSecond = value }
            if line.hasPrefix("50%"), let value = words.last.flatMap(millis) { result.p50 = value }
            if line.hasPrefix("99%"), let value = words.last.flatMap(millis) { result.p99 = value }
            if line.contains("requests in"), let value = words.first.flatMap(Int.init) { result.requests = value }
            if line.hasPrefix("Non-2xx or 3xx responses:"), let value = words.last.flatMap(Int.init) { result.non2xx = value }
            if line.hasPrefix("Socket errors:") {
                result.socketErrors = words.compactMap { Int($0.trimmingCharacters(in: CharacterSet(charactersIn: ","))) }.reduce(0, +)
            }
        }
        return result
    }

    /// wrk prints latencies as `1.23ms`, `456.00us` or `1.02s`.
    static func millis(_ text: String) -> Double? {
        for (suffix, factor) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0)] where text.hasSuffix(suffix) {
            return Double(text.dropLast(suffix.count)).map { $0 * factor }
        }
        return nil
    }

    /// A Lua script for wrk posting amoCRM `leads[update]` webhooks, a new lead id per request from `firstID`.
    static func amoScript(firstID: Int) -> String {
        """
        counter = \(firstID)
        request = function()
          counter = counter + 1
          local now = os.time()
          local k = function(f) return "leads%5Bupdate%5D%5B0%5D%5B" .. f .. "%5D" end
          local body = "account%5Bsubdomain%5D=touragency&account%5Bid%5D=31415926"
            .. "&" .. k("id") .. "=" .. counter .. "&" .. k("name") .. "=Bench+lead+" .. counter .. "+wrk"
            .. "&" .. k("status_id") .. "=7001001&" .. k("pipeline_id") .. "=7001000&" .. k("price") .. "=100000"
            .. "&" .. k("responsible_user_id") .. "=6001001&" .. k("last_modified") .. "=" .. now
            .. "&" .. k("modified_user_id") .. "=6001001&" .. k("created_user_id") .. "=6001001"
            .. "&" .. k("date_create") .. "=" .. now .. "&" .. k("account_id") .. "=31415926"
          return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
        end
        """
    }

    /// `pgbench` with 32 clients, each committing one INSERT of a webhook-sized row per transaction: the naive
    /// per-request durable ingest, in the same PostgreSQL. Returns transactions per second.
    static func naiveInsert(host: String, port: Int, user: String, database: String, seconds: Int = 10) async throws -> Double {
        let directory = NSTemporaryDirectory() + "dealsync-bench-pgbench-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let body = String(AmoLoad.body(leadID: 123_456, now: 1_767_225_600).prefix(700)).replacingOccurrences(of: "'", with: "")
        let script = "\(directory)/insert.sql"
        try """
        \\set id random(1, 2000000000)
        INSERT INTO naive_inbox (connector, dedupe_key, headers, content_type, body, lineage_id) VALUES ('tour-a', 'hook:' || :id || ':' || clock_timestamp(), '{"user-agent": ""}', 'application/x-www-form-urlencoded', convert_to('\(body)', 'UTF8'), gen_random_uuid());
        """.write(toFile: script, atomically: true, encoding: .utf8)
        let environment = ["PGHOST": host, "PGPORT": "\(port)", "PGUSER": user, "PGDATABASE": database]
        let (status, output, errors) = try await ChildProgram.run(
            "/usr/bin/pgbench", ["-n", "-c", "32", "-j", "2", "-T", "\(seconds)", "-f", script], environment: environment)
        guard status == 0 else { throw BenchError("pgbench failed (\(status)): \(errors.prefix(300))") }
        for line in output.split(separator: "\n") where line.hasPrefix("tps = ") {
            if let value = line.split(separator: " ").dropFirst(2).first.flatMap({ Double($0) }) { return value }
        }
        throw BenchError("pgbench printed no tps: \(output.prefix(300))")
    }

    /// The table the naive insert writes: the inbox's columns, indexes and constraints.
    static let naiveTable = """
        CREATE TABLE naive_inbox (
            id bigserial PRIMARY KEY, connector text NOT NULL, dedupe_key text NOT NULL, source text NOT NULL DEFAULT 'webhook',
            received_at timestamptz NOT NULL DEFAULT now(), headers jsonb NOT NULL DEFAULT '{}', content_type text,
            body bytea NOT NULL, status text NOT NULL DEFAULT 'pending', attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(), lineage_id uuid NOT NULL, UNIQUE (connector, dedupe_key))
        """
}
