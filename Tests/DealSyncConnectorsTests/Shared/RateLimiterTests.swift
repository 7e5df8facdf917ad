import DealSyncConnectors
import DealSyncCore
import DealSyncTestSupport
import Synchronization
import Testing

/// What the real limiter adds to ``TokenBucket``'s decisions (tested at exact instants in the core), on a manual
/// clock: callers sleep exactly as long as the bucket says, the window holds departures back, and a cancelled
/// waiter gives its turn back. No time is waited, so nothing depends on how busy the machine is.
@Suite(.timeLimit(.minutes(1)))
struct RateLimiterTests {
    /// A limiter on `clock`, and a count of the callers it let go.
    final class Limited: Sendable {
        let clock = ManualClock()
        let limiter: RateLimiter
        let left = Mutex(0)

        init(requestsPerSecond: Double, burst: Int, window: RateLimiter.SlidingWindow? = nil) {
            let origin = ContinuousClock.now
            let clock = clock
            limiter = RateLimiter(
                requestsPerSecond: requestsPerSecond, burst: burst, window: window, now: { origin + clock.now.offset },
                sleep: { try await clock.sleep(for: $0) })
        }

        func start(_ callers: Int) -> Task<Void, any Error> {
            Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<callers {
                        group.addTask {
                            try await self.limiter.acquire()
                            self.left.withLock { $0 += 1 }
                        }
                    }
                    try await group.waitForAll()
                }
            }
        }

        /// Waits (yielding, not sleeping) until `condition` holds.
        func until(_ condition: () -> Bool) async {
            while !condition() { await Task.yield() }
        }
    }

    @Test func callersSleepAsTheBucketSays() async throws {
        let limited = Limited(requestsPerSecond: 20, burst: 1)
        let callers = limited.start(11)
        // One goes at once, the other ten one twentieth of a second apart.
        await limited.until { limited.clock.pendingDelays.count == 10 && limited.left.withLock { $0 } == 1 }
        #expect(limited.clock.pendingDelays == (1...10).map { Duration.milliseconds(50 * $0) })
        limited.clock.advance(by: .milliseconds(250))
        await limited.until { limited.left.withLock { $0 } == 6 }
        #expect(limited.clock.pendingDelays == (1...5).map { Duration.milliseconds(50 * $0) })
        limited.clock.advance(by: .milliseconds(250))
        try await callers.value
        #expect(limited.limiter.statistics.acquired == 11)
        // What they really waited: the clock moved in two steps of 250 ms, so five woke at 250 ms and five at 500 ms.
        #expect(limited.limiter.statistics.waited == .milliseconds(5 * 250 + 5 * 500))
    }

    @Test func theWindowHoldsDeparturesBack() async throws {
        let limited = Limited(requestsPerSecond: 1_000, burst: 10, window: .init(count: 3, length: .milliseconds(300)))
        let callers = limited.start(10)
        // The bucket lets all ten go; the window lets three leave in any 300 ms.
        await limited.until { limited.left.withLock { $0 } == 3 && limited.clock.pendingDelays.count == 7 }
        #expect(limited.clock.pendingDelays == Array(repeating: .milliseconds(300), count: 7))
        for (left, waiting) in [(6, 4), (9, 1)] {
            limited.clock.advance(by: .milliseconds(300))
            await limited.until { limited.left.withLock { $0 } == left && limited.clock.pendingDelays.count == waiting }
        }
        limited.clock.advance(by: .milliseconds(300))
        try await callers.value
        #expect(limited.left.withLock { $0 } == 10 && limited.limiter.statistics.acquired == 10)
    }

    @Test func aCancelledWaiterGivesItsTurnBack() async throws {
        let limited = Limited(requestsPerSecond: 1, burst: 1)
        try await limited.limiter.acquire()
        let waiter = Task { try await limited.limiter.acquire() }
        await limited.until { limited.clock.pendingDelays.count == 1 }
        #expect(limited.clock.pendingDelays == [.seconds(1)])
        #expect(limited.limiter.available == -1, "the waiter holds a reservation")
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(limited.limiter.available == 0, "its reservation went back to the bucket")
    }

    @Test func theShareReachesTheBucket() {
        let limiter = RateLimiter(requestsPerSecond: 20, burst: 4)
        limiter.share = 0.5
        #expect(limiter.share == 0.5)
        #expect(limiter.available <= 2, "the burst is halved at once")
    }
}
