import DealSyncCore
import DealSyncSimulators
import Foundation
import NIOHTTP1
import Testing

/// `GET /v1/deals`: (updated_at, id) order, inclusive `updated_since`, opaque cursors that never skip or repeat.
struct MasterDealPagingTests {
    /// 40 deals share one millisecond, 5 come before it and 5 after.
    static let shared: Int64 = 1_795_428_000_123

    static func seeds() -> [MasterDealSimulator.Deal] {
        var deals: [MasterDealSimulator.Deal] = []
        for index in 0..<50 {
            let updatedAt = index < 5 ? shared - 1000 + Int64(index) : index < 45 ? shared : shared + Int64(index)
            deals.append(
                MasterDealSimulator.Deal(
                    id: String(format: "md-%08x", (index * 7919) % 65_536), accountID: "acc", opportunityName: "Deal \(index)",
                    stage: "lead", createdAt: shared - 5000, updatedAt: updatedAt))
        }
        return deals
    }

    func pages(_ client: MasterDealTestClient, first path: String) async throws -> (ids: [String], times: [String], pages: Int) {
        var ids: [String] = []
        var times: [String] = []
        var next: String? = path
        var pages = 0
        while let path = next {
            let response = try await client.get(path)
            try #require(response.status == 200, "\(response.text)")
            let page = try response.json
            let items = try #require(page["items"]?.arrayValue)
            ids += items.compactMap { $0["id"]?.stringValue }
            times += items.compactMap { $0["updated_at"]?.stringValue }
            pages += 1
            try #require(pages < 100, "paging does not end")
            next = page["next_cursor"]?.stringValue.map {
                "/v1/deals?limit=7&cursor=\($0)&updated_since=2100-01-01T00:00:00Z"
            }
        }
        return (ids, times, pages)
    }

    @Test func pagingThroughDealsSharingOneMillisecondSeesEachExactlyOnce() async throws {
        var configuration = masterDealTestConfiguration()
        configuration.seedDeals = Self.seeds()
        let simulator = MasterDealSimulator(configuration: configuration)
        try await simulator.withRunning { baseURL in
            let client = MasterDealTestClient(baseURL: baseURL)
            // The cursor wins over updated_since (set in the future above, which would return nothing).
            let (ids, times, pages) = try await pages(client, first: "/v1/deals?limit=7")
            #expect(ids.count == 50)
            #expect(Set(ids).count == 50)
            #expect(pages == 8)
            let order = zip(times.map { Timestamp.parseMillis($0)! }, ids).map { ($0, $1) }
            #expect(zip(order, order.dropFirst()).allSatisfy { $0 < $1 })
            #expect(ids == simulator.allDeals().map(\.id))
        }
    }

    @Test func updatedSinceIsInclusive() async throws {
        var configuration = masterDealTestConfiguration()
        configuration.seedDeals = Self.seeds()
        let simulator = MasterDealSimulator(configuration: configuration)
        try await simulator.withRunning { baseURL in
            let client = MasterDealTestClient(baseURL: baseURL)
            let since = "2026-11-23T10:00:00.123Z"  // Self.shared
            #expect(Timestamp.parseMillis(since) == Self.shared)
            let all = try await client.get("/v1/deals?limit=500&updated_since=\(since)")
            #expect(try all.json["items"]?.arrayValue?.count == 45)
            #expect(try all.json["next_cursor"] == .null)
            // The same instant in another offset (the "+" percent-encoded).
            let offset = try await client.get("/v1/deals?limit=500&updated_since=2026-11-23T13:00:00.123%2B03:00")
            #expect(try offset.json["items"]?.arrayValue?.count == 45)
            let after = try await client.get("/v1/deals?limit=500&updated_since=2026-11-23T10:00:00.124Z")
            #expect(try after.json["items"]?.arrayValue?.count == 5)
            let byDefault = try await client.get("/v1/deals")
            #expect(try byDefault.json["items"]?.arrayValue?.count == 50)
        }
    }

    @Test func manyWritesInOneMillisecondPageCorrectly() async throws {
        let clock = MasterDealTestClock()
        var configuration = masterDealTestConfiguration()
        configuration.clock = { clock.now() }
        let simulator = MasterDealSimulator(configuration: configuration)
        try await simulator.withRunning { baseURL in
            let client = MasterDealTestClient(baseURL: baseURL)
            for index in 0..<25 { _ = try await client.create(extra: #","owner_id":"u-\#(index)""#) }
            #expect(Set(simulator.allDeals().map(\.updatedAt)).count == 1)
            let (ids, _, _) = try await pages(client, first: "/v1/deals?limit=7")
            #expect(ids.count == 25)
            #expect(Set(ids).count == 25)
        }
    }

    @Test func badPagingParametersAreRejected() async throws {
        let simulator = MasterDealSimulator(configuration: masterDealTestConfiguration())
        try await simulator.withRunning { baseURL in
            let client = MasterDealTestClient(baseURL: baseURL)
            for path in [
                "/v1/deals?limit=0", "/v1/deals?limit=501", "/v1/deals?limit=ten",
                "/v1/deals?updated_since=yesterday", "/v1/deals?updated_since=2026-11-23T10:00:00",
            ] {
                let response = try await client.get(path)
                #expect(response.status == 400, "\(path)")
                #expect(response.problemSlug == "invalid-parameter", "\(path)")
            }
            let cursor = try await client.get("/v1/deals?cursor=not-a-cursor")
            #expect(cursor.status == 400)
            #expect(cursor.problemSlug == "invalid-cursor")
        }
    }
}
