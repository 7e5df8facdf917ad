import DealSyncSimulators
import Foundation
import NIOHTTP1
import Testing

/// The edge: 7 requests/s with an HTML 429, blocking after violations, 402 on writes, 504 on big batches.
struct AmoCRMLimitTests {
    static func limited(blockAfter: Int? = nil) -> AmoCRMSimulator.Configuration {
        var configuration = Amo.configuration()
        configuration.requestsPerSecond = 7
        configuration.blockAfterViolations = blockAfter
        return configuration
    }

    /// The limiter's clock is frozen: the ten requests arrive within one second however slowly they are sent.
    @Test func theEighthRequestWithinASecondGetsAnHTML429WithoutRetryAfter() async throws {
        try await Amo.withSimulator(Self.limited()) { simulator, client in
            simulator.freezeLimitClock()
            var statuses: [Int] = []
            var tooMany: WireReply?
            for _ in 0..<10 {
                let reply = try await client.get("/api/v4/leads?limit=1")
                statuses.append(reply.status)
                if reply.status == 429 { tooMany = reply }
            }
            #expect(statuses.prefix(7).allSatisfy { $0 == 200 })
            #expect(statuses.dropFirst(7).allSatisfy { $0 == 429 })
            let page = try #require(tooMany)
            #expect(page.contentType?.hasPrefix("text/html") == true)
            #expect(page.body.contains("429 Too Many Requests"))
            #expect(page.header("Retry-After") == nil)
            #expect(page.header("X-Request-Id") != nil)
            #expect(simulator.stats.rateLimited == 3)
            #expect(simulator.stats.maxRequestsInOneSecond == 10)

            // Control routes are never limited.
            #expect(try await client.get("/_sim/stats", token: nil).status == 200)
            // The window slides: a second later the integration may call again, not a millisecond earlier.
            simulator.advanceLimitClock(by: .milliseconds(999))
            #expect(try await client.get("/api/v4/leads?limit=1").status == 429)
            simulator.advanceLimitClock(by: .milliseconds(1))
            #expect(try await client.get("/api/v4/leads?limit=1").status == 200)
            for _ in 0..<5 { #expect(try await client.get("/api/v4/leads?limit=1").status == 200) }
            #expect(try await client.get("/api/v4/leads?limit=1").status == 429, "refused ones count: the window is full")
            #expect(simulator.stats.rateLimited == 5)
            // Once the clock runs again, real time slides the window too.
            simulator.unfreezeLimitClock()
            try await Task.sleep(for: .milliseconds(1050))
            #expect(try await client.get("/api/v4/leads?limit=1").status == 200)
        }
    }

    @Test func sevenPerSecondPacedRequestsAreNeverLimited() async throws {
        try await Amo.withSimulator(Self.limited()) { simulator, client in
            for _ in 0..<10 {
                #expect(try await client.get("/api/v4/leads?limit=1").status == 200)
                try await Task.sleep(for: .milliseconds(150))
            }
            #expect(simulator.stats.rateLimited == 0)
            #expect(simulator.stats.maxRequestsInOneSecond <= 7)
        }
    }

    @Test func repeatedViolationsBlockTheAccountUntilLifted() async throws {
        try await Amo.withSimulator(Self.limited(blockAfter: 3)) { simulator, client in
            simulator.freezeLimitClock()
            var statuses: [Int] = []
            for _ in 0..<12 { statuses.append(try await client.get("/api/v4/leads?limit=1").status) }
            #expect(statuses == Array(repeating: 200, count: 7) + [429, 429, 429, 403, 403])
            let blocked = try await client.send(.POST, "/oauth2/access_token", json: "{}", token: nil)
            #expect(blocked.status == 403, "every call is refused, the token endpoint too")
            #expect(blocked.body.contains("403 Forbidden") && blocked.body.contains("nginx"))
            #expect(blocked.contentType?.hasPrefix("text/html") == true)

            simulator.advanceLimitClock(by: .seconds(3600))
            #expect(try await client.get("/api/v4/leads?limit=1").status == 403, "time does not lift a block")
            #expect(try await client.send(.POST, "/_sim/unblock", token: nil).status == 204)
            #expect(try await client.get("/api/v4/leads?limit=1").status == 200)
            #expect(simulator.stats.blocked == 4)
            #expect(try await client.send(.POST, "/_sim/block", token: nil).status == 204)
            #expect(try await client.get("/api/v4/leads?limit=1").status == 403)
        }
    }

    @Test func anExpiredSubscriptionRefusesWritesWith402() async throws {
        try await Amo.withSimulator { simulator, client in
            let lead = try #require(simulator.allLeads().first)
            #expect(try await client.send(.PUT, "/_sim/subscription", json: #"{"expired":true}"#, token: nil).status == 204)
            let write = try await client.send(.PATCH, "/api/v4/leads/\(lead.id)", json: #"{"price":1}"#)
            #expect(write.status == 402)
            #expect(write.contentType == "application/problem+json")
            #expect(try await client.get("/api/v4/leads/\(lead.id)").status == 200, "reads still work")
            #expect(simulator.lead(id: lead.id)?.price == lead.price)
            _ = try await client.send(.PUT, "/_sim/subscription", json: #"{"expired":false}"#, token: nil)
            #expect(try await client.send(.PATCH, "/api/v4/leads/\(lead.id)", json: #"{"price":1}"#).status == 200)
        }
    }

    @Test func aBatchAboveTheKnobTimesOutWith504AfterWriting() async throws {
        var configuration = Amo.configuration()
        configuration.gatewayTimeoutBatchSize = 2
        try await Amo.withSimulator(configuration) { simulator, client in
            let before = simulator.allLeads().count
            let reply = try await client.send(.POST, "/api/v4/leads", json: #"[{"name":"a"},{"name":"b"},{"name":"c"}]"#)
            #expect(reply.status == 504)
            #expect(reply.body.contains("504 Gateway Time-out"))
            #expect(simulator.allLeads().count == before + 3, "the backend finished: a blind retry would duplicate")
            #expect(try await client.send(.POST, "/api/v4/leads", json: #"[{"name":"d"},{"name":"e"}]"#).status == 200)
            let tooBig = "[" + Array(repeating: #"{"name":"x"}"#, count: 251).joined(separator: ",") + "]"
            #expect(try await client.send(.POST, "/api/v4/leads", json: tooBig).status == 400)
        }
    }

    @Test func injectedFaultsLookLikeAmoCRMsEdge() async throws {
        try await Amo.withSimulator { simulator, client in
            var settings = FaultSettings()
            settings.rateLimitRate = 1
            simulator.faults.update(settings)
            let limited = try await client.get("/api/v4/leads?limit=1")
            #expect(limited.status == 429)
            #expect(limited.header("Retry-After") == nil)
            settings.rateLimitRate = 0
            settings.errorRate = 1
            simulator.faults.update(settings)
            #expect(try await client.get("/api/v4/leads?limit=1").status == 502)
            #expect(try await client.get("/_sim/leads", token: nil).status == 200, "control routes are never faulted")
        }
    }

    /// Writes down, reads up: a CRM whose writes fail while it still answers reads.
    @Test func withWritesDownReadsGoThroughAndWritesFail() async throws {
        try await Amo.withSimulator { simulator, client in
            let lead = try #require(simulator.allLeads().first)
            var settings = FaultSettings()
            settings.writesDown = true
            simulator.faults.update(settings)
            #expect(try await client.get("/api/v4/leads/\(lead.id)").status == 200)
            let write = try await client.send(.PATCH, "/api/v4/leads/\(lead.id)", json: #"{"price":1}"#)
            #expect(write.status >= 500, "\(write.status)")
            #expect(simulator.lead(id: lead.id)?.price == lead.price, "nothing written")
            simulator.faults.update(FaultSettings())
            #expect(try await client.send(.PATCH, "/api/v4/leads/\(lead.id)", json: #"{"price":1}"#).status == 200)
        }
    }
}
