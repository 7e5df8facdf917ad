import DealSyncConnectors
import Testing

/// The limiter's guarantees are lower bounds on time — a slow machine only makes callers later — so these
/// checks hold however busy the host is.
struct RateLimiterTests {
    @Test func theBucketPacesCallersAtItsRate() async throws {
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

    @Test func theWindowCapsDeparturesEvenWhenTheBucketWouldAllowMore() async throws {
        let open = RateLimiter(requestsPerSecond: 1_000, burst: 10)
        let capped = RateLimiter(requestsPerSecond: 1_000, burst: 10, window: .init(count: 3, length: .milliseconds(300)))
        let openStarted = ContinuousClock.now
        for _ in 0..<10 { try await open.acquire() }
        #expect(openStarted.duration(to: .now) < .milliseconds(800), "a burst of 10 needs no waiting (the capped one below needs 900 ms)")

        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<10 { group.addTask { try await capped.acquire() } }
            try await group.waitForAll()
        }
        // Three leave at once, then three per 300 ms: the tenth cannot leave before 900 ms.
        #expect(started.duration(to: .now) >= .milliseconds(900))
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

    /// Two processes sharing MasterDeal's limit each take half of its rate and burst.
    @Test func aShareScalesTheRateAndTheBurst() async throws {
        let limiter = RateLimiter(requestsPerSecond: 20, burst: 4)
        limiter.share = 0.5
        #expect(limiter.share == 0.5)
        #expect(limiter.available <= 2, "the burst is halved at once")
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<12 { group.addTask { try await limiter.acquire() } }
            try await group.waitForAll()
        }
        // Two go at once (half the burst), the other ten at 10 a second (half the rate): at least a second.
        #expect(started.duration(to: .now) >= .milliseconds(950))
        limiter.share = 0
        #expect(limiter.share == 0.01, "a share is never zero: the process still makes progress")
        limiter.share = 3
        #expect(limiter.share == 1, "nor more than the whole limit")
    }
}
