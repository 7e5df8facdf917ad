import DealSyncSimulators
import Foundation
import NIOHTTP1
import Testing

/// Fault knobs (problem+json 429 / 503 / 500), auth, and the request statistics.
struct MasterDealFaultTests {
    @Test func rateLimitingAnswers429WithRetryAfter() async throws {
        let simulator = MasterDealSimulator(configuration: masterDealTestConfiguration())
        try await simulator.withRunning { baseURL in
            let client = MasterDealTestClient(baseURL: baseURL)
            let put = try await client.send(.PUT, "/_sim/faults", body: #"{"rate_limit_rate":1,"retry_after_s":7}"#)
            #expect(put.status == 200)
            #expect(simulator.faults.settings.rateLimitRate == 1)
            let limited = try await client.get("/v1/deals")
            #expect(limited.status == 429)
            #expect(limited.header("Retry-After") == "7")
            #expect(limited.header("Content-Type") == "application/problem+json")
            #expect(limited.problemSlug == "rate-limited")
            #expect(try limited.json["status"] == .number(429))
            // A write is limited before it has any effect.
            let write = try await client.write(.POST, "/v1/deals", #"{"account_id":"a","opportunity_name":"n","stage":"lead"}"#)
            #expect(write.status == 429)
            #expect(simulator.allDeals().isEmpty)
            // Control routes are never faulted.
            #expect(try await client.get("/_sim/stats").status == 200)
            #expect(try await client.get("/_sim/faults").json["rate_limit_rate"] == .number(1))
        }
    }

    @Test func aDownServiceAnswers503AndRecovers() async throws {
        let simulator = MasterDealSimulator(configuration: masterDealTestConfiguration())
        try await simulator.withRunning { baseURL in
            let client = MasterDealTestClient(baseURL: baseURL)
            _ = try await client.send(.PUT, "/_sim/faults", body: #"{"down":true}"#)
            let down = try await client.get("/v1/deals")
            #expect(down.status == 503)
            #expect(down.problemSlug == "service-unavailable")
            #expect(down.header("Content-Type") == "application/problem+json")
            _ = try await client.send(.PUT, "/_sim/faults", body: #"{"error_rate":1}"#)
            let broken = try await client.get("/v1/deals")
            #expect(broken.status == 500)
            #expect(broken.problemSlug == "internal-error")
            _ = try await client.send(.PUT, "/_sim/faults", body: "{}")
            #expect(try await client.get("/v1/deals").status == 200)
            let stats = simulator.stats
            #expect(stats.requests("GET /v1/deals", status: 503) == 1)
            #expect(stats.requests("GET /v1/deals", status: 500) == 1)
            #expect(stats.requests("GET /v1/deals", status: 200) == 1)
        }
    }

    @Test func configuredFaultsApplyFromTheStart() async throws {
        var configuration = masterDealTestConfiguration()
        configuration.faults.down = true
        let simulator = MasterDealSimulator(configuration: configuration)
        try await simulator.withRunning { baseURL in
            let response = try await MasterDealTestClient(baseURL: baseURL).get("/v1/deals")
            #expect(response.status == 503)
        }
    }

    @Test func requestsWithoutAKnownTokenAreUnauthorized() async throws {
        let simulator = MasterDealSimulator(configuration: masterDealTestConfiguration())
        try await simulator.withRunning { baseURL in
            for token in [nil, "wrong-token"] {
                let client = MasterDealTestClient(baseURL: baseURL, token: token)
                let list = try await client.get("/v1/deals")
                #expect(list.status == 401)
                #expect(list.problemSlug == "unauthorized")
                #expect(list.header("WWW-Authenticate") == "Bearer")
                let write = try await client.write(.POST, "/v1/deals", #"{"account_id":"a","opportunity_name":"n","stage":"lead"}"#)
                #expect(write.status == 401)
            }
            #expect(simulator.allDeals().isEmpty)
        }
    }

    @Test func statsCountRequestsByRouteTemplateAndStatus() async throws {
        let simulator = MasterDealSimulator(configuration: masterDealTestConfiguration())
        try await simulator.withRunning { baseURL in
            let client = MasterDealTestClient(baseURL: baseURL)
            let id = try #require(try await client.create()["id"]?.stringValue)
            _ = try await client.get("/v1/deals/\(id)")
            _ = try await client.get("/v1/deals/md-missing")
            _ = try await client.get("/v1/nowhere")
            let stats = try await client.get("/_sim/stats").json
            #expect(stats["requests"]?["POST /v1/deals"]?["201"] == .number(1))
            #expect(stats["requests"]?["GET /v1/deals/{id}"]?["200"] == .number(1))
            #expect(stats["requests"]?["GET /v1/deals/{id}"]?["404"] == .number(1))
            #expect(stats["requests"]?["GET NotFound"]?["404"] == .number(1))
            #expect(stats["writes_applied"] == .number(1))
            #expect(stats["deals"] == .number(1))
            #expect(stats["requests"]?.objectValue?.keys.contains { $0.contains("_sim") } == false)
        }
    }
}
