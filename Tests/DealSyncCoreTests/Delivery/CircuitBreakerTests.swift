import DealSyncCore
import Testing

/// The breaker counts rounds of deliveries, not records: one batch call the target refused is one failure.
struct CircuitBreakerTests {
    static let limited = DeliveryOutcome.retryable(.rateLimited, status: 429, detail: "amoCRM rate limit", retryAfter: nil)

    @Test func aRateLimitedBatchOfManyRecordsIsOneFailure() {
        var breaker = CircuitBreaker(threshold: 5, cooldown: .seconds(30))
        let now = ContinuousClock.now
        breaker.record(round: Array(repeating: Self.limited, count: 50), at: now)
        #expect(breaker.state == .closed(failures: 1), "one 429 for a batch of 50 leads")
        #expect(breaker.permission(at: now) == .allowed)
    }

    @Test func consecutiveFailedRoundsOpenTheCircuitAndASuccessClosesIt() {
        var breaker = CircuitBreaker(threshold: 3, cooldown: .seconds(30))
        let now = ContinuousClock.now
        for _ in 0..<2 { breaker.record(round: [Self.limited, Self.limited], at: now) }
        #expect(breaker.state == .closed(failures: 2))
        breaker.record(round: [Self.limited], at: now)
        #expect(breaker.state == .open(until: now + .seconds(30), cooldown: .seconds(30)))
        #expect(breaker.permission(at: now + .seconds(31)) == .probe)
        breaker.record(round: [.delivered(recordID: "1", landedAt: nil)], at: now + .seconds(31))
        #expect(breaker.state == .closed(failures: 0))
    }

    @Test func aRoundWithAnyDeliveryIsASuccessAndRecordLevelFailuresDoNotCount() {
        var breaker = CircuitBreaker(threshold: 1, cooldown: .seconds(30))
        let now = ContinuousClock.now
        breaker.record(
            round: [.permanent(.validation, status: 400, detail: "bad value"), .permanent(.notFound, status: 404, detail: "gone")], at: now)
        #expect(breaker.state == .closed(failures: 0), "a record the target refuses says nothing about the target")
        breaker.record(round: [Self.limited, .delivered(recordID: "7", landedAt: nil)], at: now)
        #expect(breaker.state == .closed(failures: 0), "the target answered: it is up")
    }
}
