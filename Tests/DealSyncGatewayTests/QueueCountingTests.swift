import Testing

@testable import DealSyncGateway

/// The statistics round counts the queues every round while that is cheap, and keeps a slow count to a small share
/// of the time.
struct QueueCountingTests {
    let start = ContinuousClock.now

    @Test func quickCountsAreMadeEveryRound() {
        var counting = QueueCounting(interval: .seconds(5))
        #expect(counting.isDue(at: start))
        var rounds = 0
        var at = start
        for _ in 0..<10 {
            #expect(counting.isDue(at: at))
            counting.counted(at: at, took: .milliseconds(3))
            rounds += 1
            // The next round begins an interval after this one's end.
            at = at + .milliseconds(3) + .seconds(5)
        }
        #expect(rounds == 10)
    }

    @Test func aSlowCountIsKeptToItsShareOfTheTime() {
        var counting = QueueCounting(interval: .seconds(5))
        var counted: [Int] = []
        var at = start
        for round in 0..<20 {
            if counting.isDue(at: at) {
                counting.counted(at: at, took: .milliseconds(94))
                counted.append(round)
            }
            at = at + .seconds(5)
        }
        // 94 ms at most 1% of the time: every 9.4 s, so every other 5 s round.
        #expect(counted == Array(stride(from: 0, to: 20, by: 2)))
        // Quick again: counted at the next round.
        counting.counted(at: at, took: .milliseconds(2))
        #expect(counting.isDue(at: at + .seconds(5)))
        #expect(!counting.isDue(at: at + .seconds(4)))
    }
}
