import DealSyncSimulators
import Foundation
import NIOHTTP1
import Testing

/// `Idempotency-Key`: one effect per (client, key), replays for retries, 422 for reuse, 400 when missing.
struct MasterDealIdempotencyTests {
    @Test func aCreateRetriedFiveTimesCreatesOneDeal() async throws {
        let receiver = MasterDealEventReceiver()
        try await receiver.withSimulator { simulator, client, _ in
            let body = #"{"account_id":"acc-1","opportunity_name":"Tour","stage":"lead","amount":"10","currency":"RUB"}"#
            var responses: [MasterDealTestResponse] = []
            for _ in 0..<5 { responses.append(try await client.write(.POST, "/v1/deals", body, key: "create-1")) }
            #expect(responses.map(\.status) == [201, 201, 201, 201, 201])
            #expect(Set(responses.map(\.body)).count == 1)
            #expect(responses.map { $0.header("Idempotent-Replayed") } == [nil, "true", "true", "true", "true"])
            #expect(responses.allSatisfy { $0.header("Location") == responses[0].header("Location") })
            #expect(simulator.allDeals().count == 1)
            #expect(simulator.stats.idempotentReplays == 4)
            #expect(simulator.stats.writesApplied == 1)
            _ = try await receiver.waitFor(1)
            try await Task.sleep(for: .milliseconds(100))
            #expect(receiver.requests.count == 1)
        }
    }

    @Test func aPatchRetriedFiveTimesChangesTheDealOnce() async throws {
        let simulator = MasterDealSimulator(configuration: masterDealTestConfiguration())
        try await simulator.withRunning { baseURL in
            let client = MasterDealTestClient(baseURL: baseURL)
            let id = try #require(try await client.create()["id"]?.stringValue)
            // Same key, same body up to member order and whitespace: a replay, not a second change.
            let bodies = [#"{"stage":"qualified","attributes":{"a":1}}"#, #"{ "attributes": {"a": 1}, "stage": "qualified" }"#]
            var versions: [Double?] = []
            for attempt in 0..<5 {
                let response = try await client.write(.PATCH, "/v1/deals/\(id)", bodies[attempt % 2], key: "patch-1")
                #expect(response.status == 200)
                #expect(response.header("Idempotent-Replayed") == (attempt == 0 ? nil : "true"))
                #expect(response.header("ETag") == "\"2\"")
                if case .number(let version)? = try response.json["version"] { versions.append(version) }
            }
            #expect(versions == [2, 2, 2, 2, 2])
            #expect(simulator.deal(id: id)?.version == 2)
            #expect(simulator.eventHistory.filter { $0.event.type == .stageChanged }.count == 1)
            #expect(simulator.stats.idempotentReplays == 4)
        }
    }

    @Test func theSameKeyWithAnotherBodyIsRejected() async throws {
        let simulator = MasterDealSimulator(configuration: masterDealTestConfiguration())
        try await simulator.withRunning { baseURL in
            let client = MasterDealTestClient(baseURL: baseURL)
            let id = try #require(try await client.create()["id"]?.stringValue)
            let first = try await client.write(.PATCH, "/v1/deals/\(id)", #"{"opportunity_name":"A"}"#, key: "k")
            #expect(first.status == 200)
            let other = try await client.write(.PATCH, "/v1/deals/\(id)", #"{"opportunity_name":"B"}"#, key: "k")
            #expect(other.status == 422)
            #expect(other.problemSlug == "idempotency-key-reuse")
            #expect(other.header("Content-Type") == "application/problem+json")
            // Another path with the same key is another request too.
            let elsewhere = try await client.write(.POST, "/v1/deals/\(id)/notes", #"{"text":"x"}"#, key: "k")
            #expect(elsewhere.status == 422)
            #expect(simulator.deal(id: id)?.opportunityName == "A")
            #expect(simulator.deal(id: id)?.version == 2)
        }
    }

    @Test func aWriteWithoutAKeyIsRejectedAndChangesNothing() async throws {
        let simulator = MasterDealSimulator(configuration: masterDealTestConfiguration())
        try await simulator.withRunning { baseURL in
            let client = MasterDealTestClient(baseURL: baseURL)
            let response = try await client.send(
                .POST, "/v1/deals",
                body: #"{"account_id":"a","opportunity_name":"n","stage":"lead"}"#)
            #expect(response.status == 400)
            #expect(response.problemSlug == "idempotency-key-missing")
            let long = try await client.write(
                .POST, "/v1/deals", #"{"account_id":"a","opportunity_name":"n","stage":"lead"}"#,
                key: String(repeating: "k", count: 256))
            #expect(long.status == 400)
            #expect(long.problemSlug == "idempotency-key-invalid")
            #expect(simulator.allDeals().isEmpty)
        }
    }

    @Test func aFailedWriteDoesNotUseUpItsKey() async throws {
        let simulator = MasterDealSimulator(configuration: masterDealTestConfiguration())
        try await simulator.withRunning { baseURL in
            let client = MasterDealTestClient(baseURL: baseURL)
            let id = try #require(try await client.create()["id"]?.stringValue)
            try simulator.editAsUser(id: id, changes: ["opportunity_name": "Edited in MasterDeal"])
            let stale = try await client.write(
                .PATCH, "/v1/deals/\(id)", #"{"stage":"qualified"}"#, key: "w",
                headers: [("If-Match", "\"1\"")])
            #expect(stale.status == 412)
            // The connector re-reads, re-decides and retries the same outbox row (same key, same body).
            let retried = try await client.write(
                .PATCH, "/v1/deals/\(id)", #"{"stage":"qualified"}"#, key: "w",
                headers: [("If-Match", "\"2\"")])
            #expect(retried.status == 200)
            #expect(retried.header("Idempotent-Replayed") == nil)
            #expect(simulator.deal(id: id)?.stage == "qualified")
        }
    }

    @Test func keysAreScopedPerClient() async throws {
        let simulator = MasterDealSimulator(configuration: masterDealTestConfiguration())
        try await simulator.withRunning { baseURL in
            let dealsync = MasterDealTestClient(baseURL: baseURL)
            let billing = MasterDealTestClient(baseURL: baseURL, token: "other-token")
            let a = try await dealsync.write(.POST, "/v1/deals", #"{"account_id":"a","opportunity_name":"A","stage":"lead"}"#, key: "same")
            let b = try await billing.write(.POST, "/v1/deals", #"{"account_id":"b","opportunity_name":"B","stage":"lead"}"#, key: "same")
            #expect(a.status == 201)
            #expect(b.status == 201)
            #expect(b.header("Idempotent-Replayed") == nil)
            #expect(simulator.allDeals().count == 2)
            #expect(Set(simulator.eventHistory.map(\.event.source)) == ["dealsync", "billing"])
        }
    }

    @Test func keysExpireAfterTheRetentionPeriod() async throws {
        let clock = MasterDealTestClock()
        var configuration = masterDealTestConfiguration()
        configuration.clock = { clock.now() }
        let simulator = MasterDealSimulator(configuration: configuration)
        try await simulator.withRunning { baseURL in
            let client = MasterDealTestClient(baseURL: baseURL)
            let body = #"{"account_id":"a","opportunity_name":"A","stage":"lead"}"#
            #expect(try await client.write(.POST, "/v1/deals", body, key: "old").status == 201)
            clock.advance(by: 23 * 3600)
            #expect(try await client.write(.POST, "/v1/deals", body, key: "old").header("Idempotent-Replayed") == "true")
            clock.advance(by: 3600)
            let afterADay = try await client.write(.POST, "/v1/deals", body, key: "old")
            #expect(afterADay.status == 201)
            #expect(afterADay.header("Idempotent-Replayed") == nil)
            #expect(simulator.allDeals().count == 2)
        }
    }
}
