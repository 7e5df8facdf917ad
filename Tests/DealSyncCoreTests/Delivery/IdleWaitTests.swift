import DealSyncCore
import Testing

/// An idle loop sleeps until the next row is due, at most the longest wait, and looks again soon when due rows
/// wait behind others.
struct IdleWaitTests {
    @Test func nothingWaitingSleepsTheLongest() {
        #expect(IdleWait.duration(nextDue: nil, longest: .seconds(5)) == .seconds(5))
    }

    @Test func aRetryDueSoonIsWaitedForExactly() {
        #expect(IdleWait.duration(nextDue: .milliseconds(300), longest: .seconds(5)) == .milliseconds(300))
        #expect(IdleWait.duration(nextDue: .seconds(60), longest: .seconds(5)) == .seconds(5), "never longer than the longest")
    }

    @Test func dueRowsThatCouldNotBeClaimedAreLookedAtEverySecond() {
        #expect(IdleWait.duration(nextDue: .zero, longest: .seconds(5)) == .seconds(1))
        #expect(IdleWait.duration(nextDue: .seconds(-30), longest: .seconds(5)) == .seconds(1))
        #expect(IdleWait.duration(nextDue: .seconds(-30), longest: .milliseconds(200)) == .milliseconds(200), "a shorter longest wins")
    }
}
