import DealSyncSimulators
import Foundation
import NIOHTTP1
import Testing

/// Optimistic concurrency: `ETag: "<version>"` on every deal response, `If-Match` on writes, 412 when stale.
struct MasterDealConcurrencyTests {
    @Test func aStaleIfMatchIsRejectedWithTheCurrentVersion() async throws {
        let simulator = MasterDealSimulator(configuration: masterDealTestConfiguration())
        try await simulator.withRunning { baseURL in
            let client = MasterDealTestClient(baseURL: baseURL)
            let id = try #require(try await client.create()["id"]?.stringValue)
            let first = try await client.write(
                .PATCH, "/v1/deals/\(id)", #"{"opportunity_name":"v2"}"#,
                headers: [("If-Match", "\"1\"")])
            #expect(first.status == 200)
            #expect(first.header("ETag") == "\"2\"")

            let stale = try await client.write(
                .PATCH, "/v1/deals/\(id)", #"{"opportunity_name":"lost update"}"#,
                headers: [("If-Match", "\"1\"")])
            #expect(stale.status == 412)
            #expect(stale.problemSlug == "precondition-failed")
            #expect(try stale.json["current_version"] == .number(2))
            #expect(simulator.deal(id: id)?.opportunityName == "v2")

            // Bare and weak forms are accepted too.
            let bare = try await client.write(
                .PATCH, "/v1/deals/\(id)", #"{"opportunity_name":"v3"}"#,
                headers: [("If-Match", "2")])
            #expect(bare.status == 200)
            let weak = try await client.write(
                .PATCH, "/v1/deals/\(id)", #"{"opportunity_name":"v4"}"#,
                headers: [("If-Match", "W/\"3\"")])
            #expect(weak.status == 200)
            #expect(simulator.deal(id: id)?.version == 4)

            let get = try await client.get("/v1/deals/\(id)")
            #expect(get.header("ETag") == "\"4\"")
        }
    }

    @Test func stageAndOwnerWritesHonourIfMatch() async throws {
        let simulator = MasterDealSimulator(configuration: masterDealTestConfiguration())
        try await simulator.withRunning { baseURL in
            let client = MasterDealTestClient(baseURL: baseURL)
            let id = try #require(try await client.create()["id"]?.stringValue)
            try simulator.editAsUser(id: id, changes: ["owner_id": "u-anna"])
            let stage = try await client.write(
                .POST, "/v1/deals/\(id)/stage", #"{"stage":"qualified"}"#,
                headers: [("If-Match", "\"1\"")])
            #expect(stage.status == 412)
            let owner = try await client.write(
                .PUT, "/v1/deals/\(id)/owners", #"{"owner_id":"u-ivan"}"#,
                headers: [("If-Match", "\"1\"")])
            #expect(owner.status == 412)
            #expect(simulator.deal(id: id)?.stage == "lead")
            #expect(simulator.deal(id: id)?.ownerID == "u-anna")
            let ok = try await client.write(
                .POST, "/v1/deals/\(id)/stage", #"{"stage":"qualified"}"#,
                headers: [("If-Match", "\"2\"")])
            #expect(ok.status == 200)
            #expect(simulator.deal(id: id)?.stage == "qualified")
        }
    }

    @Test func aMalformedIfMatchIsABadRequest() async throws {
        let simulator = MasterDealSimulator(configuration: masterDealTestConfiguration())
        try await simulator.withRunning { baseURL in
            let client = MasterDealTestClient(baseURL: baseURL)
            let id = try #require(try await client.create()["id"]?.stringValue)
            let response = try await client.write(
                .PATCH, "/v1/deals/\(id)", #"{"opportunity_name":"x"}"#,
                headers: [("If-Match", "\"abc\"")])
            #expect(response.status == 400)
            #expect(response.problemSlug == "invalid-if-match")
            #expect(simulator.deal(id: id)?.version == 1)
        }
    }

    @Test func aMissingDealIsNotFoundBeforeAnyPrecondition() async throws {
        let simulator = MasterDealSimulator(configuration: masterDealTestConfiguration())
        try await simulator.withRunning { baseURL in
            let client = MasterDealTestClient(baseURL: baseURL)
            let response = try await client.write(
                .PATCH, "/v1/deals/md-nothere", #"{"opportunity_name":"x"}"#,
                headers: [("If-Match", "\"1\"")])
            #expect(response.status == 404)
            #expect(response.problemSlug == "not-found")
        }
    }
}
