import DealSyncCore
import Testing

/// The limiter's decisions at exact instants: how long each request waits, what the window lets leave, what a
/// share changes. No sleeping, no wall clock.
struct TokenBucketTests {
    let t0 = ContinuousClock.now

    func at(_ milliseconds: Int) -> ContinuousClock.Instant { t0.advanced(by: .milliseconds(milliseconds)) }

    @Test func aBurstGoesAtOnceThenRequestsArePacedAtTheRate() {
        var bucket = TokenBucket(rate: 20, burst: 1, at: t0)
        let waits = (0..<11).map { _ in bucket.reserve(1, at: t0) }
        // One goes at once, the other ten one twentieth of a second apart.
        #expect(waits == [.zero] + (1...10).map { .milliseconds(50 * $0) })
    }

    @Test func tokensComeBackWithTimeUpToTheBurst() {
        var bucket = TokenBucket(rate: 10, burst: 5, at: t0)
        for _ in 0..<5 { #expect(bucket.reserve(1, at: t0) == .zero) }
        #expect(bucket.available(at: t0) == 0)
        #expect(bucket.available(at: at(300)) == 3)
        #expect(bucket.available(at: at(60_000)) == 5, "never more than the burst")
        #expect(bucket.reserve(4, at: at(300)) == .milliseconds(100), "three earned, one owed at 10 a second")
    }

    @Test func aCallerWhoGivesUpReturnsItsReservation() {
        var bucket = TokenBucket(rate: 0.01, burst: 1, at: t0)
        #expect(bucket.reserve(1, at: t0) == .zero)
        #expect(bucket.reserve(1, at: t0) == .seconds(100))
        #expect(bucket.available(at: t0) == -1)
        bucket.giveBack(1)
        #expect(bucket.available(at: t0) == 0)
        #expect(bucket.reserve(1, at: t0) == .seconds(100), "the next caller waits as long, not twice as long")
    }

    @Test func theWindowCapsDeparturesEvenWhenTheBucketWouldAllowMore() {
        var bucket = TokenBucket(rate: 1_000, burst: 10, window: .init(count: 3, length: .milliseconds(300)), at: t0)
        for _ in 0..<10 { #expect(bucket.reserve(1, at: t0) == .zero, "the bucket alone lets all ten go") }
        #expect(bucket.depart(at: t0) == nil)
        #expect(bucket.depart(at: at(10)) == nil)
        #expect(bucket.depart(at: at(20)) == nil)
        #expect(bucket.depart(at: at(30)) == .milliseconds(270), "the fourth waits for the first to age out")
        #expect(bucket.depart(at: at(300)) == nil)
        #expect(bucket.depart(at: at(305)) == .milliseconds(5))
    }

    @Test func withoutAWindowEveryDepartureIsFree() {
        var bucket = TokenBucket(rate: 1, burst: 1, at: t0)
        for step in 0..<100 { #expect(bucket.depart(at: at(step)) == nil) }
    }

    /// Two processes sharing MasterDeal's limit each take half of its rate and burst.
    @Test func aShareScalesTheRateAndTheBurst() {
        var bucket = TokenBucket(rate: 20, burst: 4, at: t0)
        bucket.setShare(0.5, at: t0)
        #expect(bucket.available(at: t0) == 2, "the burst is halved at once")
        let waits = (0..<12).map { _ in bucket.reserve(1, at: t0) }
        // Two go at once (half the burst), the other ten at 10 a second (half the rate).
        #expect(waits == [.zero, .zero] + (1...10).map { .milliseconds(100 * $0) })
        bucket.setShare(0, at: t0)
        #expect(bucket.share == 0.01, "a share is never zero: the process still makes progress")
        bucket.setShare(3, at: t0)
        #expect(bucket.share == 1, "nor more than the whole limit")
    }

    @Test func tokensEarnedBeforeAShareChangeAreEarnedAtTheOldShare() {
        var bucket = TokenBucket(rate: 10, burst: 10, at: t0)
        for _ in 0..<10 { _ = bucket.reserve(1, at: t0) }
        bucket.setShare(0.5, at: at(400))  // 4 earned at the whole rate
        #expect(bucket.available(at: at(400)) == 4)
        #expect(bucket.available(at: at(600)) == 5, "then 5 a second, and the bucket holds at most half the burst")
        #expect(bucket.available(at: at(2_000)) == 5)
    }
}
