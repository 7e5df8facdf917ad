import DealSyncCore
import Foundation
import Testing

/// The relay's decisions, with the attempts, the age and the jitter passed in: what each answer of a target
/// becomes, when a retry is due, and when a write is given up.
struct RetryPolicyTests {
    /// amoCRM's defaults, short enough to read: 1 s doubling to 60 s, 8 attempts, a day.
    static let policy = RetryPolicy(base: .seconds(1), cap: .seconds(60), maxAttempts: 8, maxAge: .seconds(86_400))

    static func step(_ answer: DeliveryOutcome, attempts: Int = 1, age: Duration = .seconds(1), unit: Double = 1) -> RetryPolicy.Step {
        policy.step(for: answer, attempts: attempts, age: age, pausedProbe: .seconds(30), unit: unit)
    }

    static let serverError = DeliveryOutcome.retryable(.serverError, status: 503, detail: "busy", retryAfter: nil)

    @Test func eachAnswerBecomesItsStep() {
        #expect(Self.step(.delivered(recordID: "7", landedAt: nil)) == .confirm)
        #expect(Self.step(Self.serverError) == .retry(after: .seconds(1)))
        #expect(Self.step(.permanent(.validation, status: 400, detail: "bad field")) == .deadLetter(.validation))
        #expect(Self.step(.stale(refetched: nil)) == .redecide)
        #expect(Self.step(.paused(.auth, status: 401, reason: "grant lost")) == .pause(probeAfter: .seconds(30)))
    }

    /// The ceiling doubles from the base to the cap; full jitter picks a wait up to it.
    @Test func theWaitDoublesUpToTheCapWithFullJitter() {
        let ceilings = (1...7).map { Self.step(Self.serverError, attempts: $0) }
        #expect(ceilings == [1, 2, 4, 8, 16, 32, 60].map { RetryPolicy.Step.retry(after: .seconds($0)) }, "\(ceilings)")
        #expect(Self.step(Self.serverError, attempts: 3, unit: 0.25) == .retry(after: .seconds(1)))
        #expect(Self.step(Self.serverError, attempts: 3, unit: 0) == .retry(after: .zero))
    }

    /// A target's `Retry-After` is a floor under the jittered wait, not a replacement for a longer one.
    @Test func retryAfterIsAFloor() {
        let limited = DeliveryOutcome.retryable(.rateLimited, status: 429, detail: "", retryAfter: .seconds(5))
        #expect(Self.step(limited, attempts: 1, unit: 0.5) == .retry(after: .seconds(5)))
        #expect(Self.step(limited, attempts: 6, unit: 1) == .retry(after: .seconds(32)))
    }

    /// Given up at the attempt limit or the age limit, whichever comes first, with the class it failed with.
    @Test func aWriteIsGivenUpAtItsAttemptOrAgeLimit() {
        #expect(Self.step(Self.serverError, attempts: 7) == .retry(after: .seconds(60)))
        #expect(Self.step(Self.serverError, attempts: 8) == .deadLetter(.serverError))
        #expect(Self.step(Self.serverError, attempts: 2, age: .seconds(86_399)) == .retry(after: .seconds(2)))
        #expect(Self.step(Self.serverError, attempts: 2, age: .seconds(86_400)) == .deadLetter(.serverError))
        // A permanent failure does not wait for the limits; a pause never dead-letters however old the write.
        #expect(Self.step(.permanent(.notFound, status: 404, detail: ""), attempts: 1) == .deadLetter(.notFound))
        #expect(
            Self.step(.paused(.blocked, status: 403, reason: ""), attempts: 50, age: .seconds(10 * 86_400))
                == .pause(probeAfter: .seconds(30)))
    }

    /// The attempt history files each answer under its status and class.
    @Test func theAttemptHistoryReadsTheAnswer() {
        #expect(DeliveryOutcome.delivered(recordID: "1", landedAt: nil).status == 200)
        #expect(DeliveryOutcome.delivered(recordID: "1", landedAt: nil).errorClassName == "delivered")
        #expect(Self.serverError.status == 503 && Self.serverError.detail == "busy" && Self.serverError.errorClassName == "server_error")
        #expect(DeliveryOutcome.stale(refetched: nil).status == 412)
        #expect(DeliveryOutcome.paused(.auth, status: nil, reason: "lost").detail == "lost")
    }
}
