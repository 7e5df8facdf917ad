import AsyncHTTPClient
import DealSyncTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// `dealsync simulate …` starts each simulator as its own process, announces its URL and answers its API.
struct SimulateCommandTests {
    /// Starts `dealsync simulate <arguments>`, waits for its "listening on <url>" line, runs `body`, stops it.
    static func withSimulator(_ arguments: [String], _ body: (String) async throws -> Void) async throws {
        try await withSimulator(arguments) { url, _ in try await body(url) }
    }

    /// The same, giving `body` also what the simulator has printed so far.
    static func withSimulator(_ arguments: [String], _ body: (String, () -> String) async throws -> Void) async throws {
        let program = try ChildProgram(try Repository.dealsyncBinary(), ["simulate"] + arguments + ["--port", "0"])
        defer { program.signal(SIGTERM) }
        let deadline = ContinuousClock.now + .seconds(20)
        var url: String?
        while url == nil, ContinuousClock.now < deadline {
            if let status = program.poll() { Issue.record("the simulator exited with \(status): \(program.stderr)"); return }
            url = program.stdout.split(separator: " ").first { $0.hasPrefix("http://") }.map(String.init)
            try await Task.sleep(for: .milliseconds(50))
        }
        let found = try #require(url, "no URL announced: \(program.stdout) \(program.stderr)")
        try await body(found) { program.stdout + program.stderr }
    }

    static func get(_ url: String, bearer: String? = nil) async throws -> (Int, String) {
        var request = HTTPClientRequest(url: url)
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 22)
        return (Int(response.status.code), String(buffer: body))
    }

    @Test func masterDeal() async throws {
        try await Self.withSimulator(["masterdeal", "--token", "sim-token"]) { url in
            let allowed = try await Self.get(url + "/v1/deals?limit=1", bearer: "sim-token")
            let refused = try await Self.get(url + "/v1/deals?limit=1", bearer: "wrong")
            #expect(allowed.0 == 200 && refused.0 == 401, "\(allowed) \(refused)")
        }
    }

    @Test func amoCRM() async throws {
        try await Self.withSimulator(["amocrm"]) { url in
            let leads = try await Self.get(url + "/api/v4/leads")
            #expect(leads.0 == 401, "amoCRM's API wants a token")
            let (status, body) = try await Self.get(url + "/_sim/faults")
            #expect(status == 200 && body.contains("error_rate"), "\(body)")
        }
    }

    @Test func bitrix24WithTheSampleDealsOrEmpty() async throws {
        try await Self.withSimulator(["bitrix24", "--webhook-code", "code-for-the-test"]) { url in
            let (status, body) = try await Self.get(url + "/rest/1/code-for-the-test/crm.deal.list.json")
            #expect(status == 200, "\(body)")
            let result = (try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["result"] as? [Any]
            #expect((result?.count ?? 0) > 0, "the sample deals: \(body)")
            let wrong = try await Self.get(url + "/rest/1/wrong-code/crm.deal.list.json")
            #expect(wrong.0 == 401, "\(wrong)")
        }
        try await Self.withSimulator(["bitrix24", "--empty"]) { url in
            let (_, body) = try await Self.get(url + "/rest/1/x7k2m9q4w1e8r5t3/crm.deal.list.json")
            let result = (try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["result"] as? [Any]
            #expect(result?.isEmpty == true, "\(body)")
        }
    }
}
