import DealSyncConnectors
import DealSyncCore
import DealSyncSimulators
import Foundation
import Testing

/// amoCRM allows 7 requests in any one second and answers more with 429 (then blocks the account): the
/// connector's own limiter must keep every caller under it.
struct AmoRateLimitTests {
    @Test(.timeLimit(.minutes(1)))
    func fullLoadThroughOneConnectorNeverSeesA429() async throws {
        try await AmoHarness.run { amo in
            let ids = try AmoDeliveryTests.seed(amo, count: 8)
            let connector = amo.connector()  // its own limiter, shared by everything it does
            let started = ContinuousClock.now
            // 24 callers at once, from a cold start (the token refresh is one more request).
            let results = try await withThrowingTaskGroup(of: (String, Bool).self) { group in
                for (index, id) in ids.enumerated() {
                    group.addTask { ("fetch", try await connector.fetch([String(id)], lineage: UUID()).count == 1) }
                    group.addTask { ("poll", try await connector.poll(from: nil).items.count == ids.count) }
                    group.addTask {
                        let outcome = await connector.deliver([AmoDeliveryTests.update(id, ["price": .integer(Int64(10_000 + index))])])
                        if case .delivered(String(id), _) = outcome[0] { return ("deliver", true) }
                        return ("deliver \(outcome[0])", false)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let elapsed = started.duration(to: .now)
            #expect(results.count == 24)
            for (what, succeeded) in results { #expect(succeeded, "\(what)") }

            let stats = amo.simulator.stats
            #expect(stats.rateLimited == 0, "no 429 at full load")
            #expect(stats.requestsByStatus["429"] == nil)
            #expect(stats.maxRequestsInOneSecond <= 7, "at most 7 requests in any one second, saw \(stats.maxRequestsInOneSecond)")
            #expect(stats.requestsTotal == 25, "24 calls and one token refresh")
            #expect(stats.tokenRefreshes == 1)
            #expect(ids.enumerated().allSatisfy { amo.simulator.lead(id: $1)?.price == 10_000 + $0 })
            #expect(elapsed < .seconds(20), "the limiter paces; it does not stall (\(elapsed))")
        }
    }
}
