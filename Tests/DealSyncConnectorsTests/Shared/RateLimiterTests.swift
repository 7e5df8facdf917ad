import DealSyncConnectors
import DealSyncCore
import Testing

/// What the real limiter adds to ``TokenBucket``'s decisions (tested at exact instants in the core): callers
/// really sleep as long as the bucket says, the window holds departures back, and a cancelled waiter gives its
/// turn back. The checks are lower bounds on time — a slow machine only makes callers later.
struct RateLimiterTests {
    @Test func callersSleepAsTheBucketSays() async throws {
        let limiter = RateLimiter(requestsPerSecond: 20, burst: 1)
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<11 { group.addTask { try await limiter.acquire() } }
            try await group.waitForAll()
        }
        // One goes at once, the other ten one twentieth of a second apart.
        #expect(started.duration(to: .now) >= .milliseconds(500))
        #expect(limiter.statistics.acquired == 11)
        #expect(limiter.statistics.waited > .zero)
    }

    @Test func theWindowHoldsDeparturesBack() async throws {
        let capped = RateLimiter(requestsPerSecond: 1_000, burst: 10, window: .init(count: 3, length: .milliseconds(300)))
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<10 { group.addTask { try await capped.acquire() } }
            try await group.waitForAll()
        }
        // Three leave at once, then three per 300 ms: the tenth cannot leave before 900 ms.
        #expect(started.duration(to: .now) >= .milliseconds(900))
        #expect(capped.statistics.acquired == 10)
    }

    @Test func aCancelledWaiterGivesItsTurnBack() async throws {
        // One token per 100 s: the bucket does not visibly refill while the test runs.
        let limiter = RateLimiter(requestsPerSecond: 0.01, burst: 1)
        try await limiter.acquire()
        let waiter = Task { try await limiter.acquire() }
        while limiter.statistics.acquired < 2 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(limiter.available < -0.9, "the waiter holds a reservation")
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(limiter.available > -0.1, "its reservation went back to the bucket")
    }

    @Test func theShareReachesTheBucket() {
        let limiter = RateLimiter(requestsPerSecond: 20, burst: 4)
        limiter.share = 0.5
        #expect(limiter.share == 0.5)
        #expect(limiter.available <= 2, "the burst is halved at once")
    }
}
