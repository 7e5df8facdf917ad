import Foundation
import Testing

@testable import DealSyncSimulators

/// The decision logic without sockets: the sliding window, the retry table, the disable window, JSON types.
struct AmoCRMRulesTests {
    typealias Instant = ContinuousClock.Instant

    @Test func theWindowSlidesRequestByRequest() {
        var limiter = AmoRateLimiter(limit: 7, blockAfterViolations: nil, violationWindow: .seconds(60))
        let start = Instant.now
        // 7 requests 100 ms apart are fine; the 8th inside the same second is not.
        for step in 0..<7 { #expect(limiter.admit(at: start + .milliseconds(100 * step)) == .allowed) }
        #expect(limiter.admit(at: start + .milliseconds(700)) == .tooManyRequests)
        // At 1000 ms the first request (t=0) has left the window, but the refused one at 700 ms still counts.
        #expect(limiter.admit(at: start + .milliseconds(1000)) == .tooManyRequests)
        #expect(limiter.admit(at: start + .milliseconds(2000)) == .allowed)
        #expect(limiter.peak == 8)
    }

    @Test func violationsWithinTheirWindowBlock() {
        var limiter = AmoRateLimiter(limit: 1, blockAfterViolations: 2, violationWindow: .seconds(10))
        let start = Instant.now
        #expect(limiter.admit(at: start) == .allowed)
        #expect(limiter.admit(at: start + .milliseconds(10)) == .tooManyRequests)
        // The next violation is 20 s later: the first one no longer counts.
        #expect(limiter.admit(at: start + .seconds(20)) == .allowed)
        #expect(limiter.admit(at: start + .seconds(20) + .milliseconds(10)) == .tooManyRequests)
        #expect(!limiter.isBlocked)
        #expect(limiter.admit(at: start + .seconds(20) + .milliseconds(20)) == .tooManyRequests)
        #expect(limiter.isBlocked)
        #expect(limiter.admit(at: start + .seconds(90)) == .blocked)
        limiter.unblock()
        #expect(limiter.admit(at: start + .seconds(91)) == .allowed)
    }

    @Test(arguments: [
        (0, 400, true), (1, 404, true), (2, 400, false), (2, 499, true), (2, 500, true), (3, 503, true),
        (4, 500, false), (2, 302, false),
    ])
    func retryTable(index: Int, status: Int, expected: Bool) {
        #expect(AmoWebhookSender.shouldRetry(index, status: status) == expected)
    }

    @Test func noAnswerCountsLikeAServerError() {
        #expect(AmoWebhookSender.shouldRetry(3, status: nil))
        #expect(AmoWebhookSender.delays == [.seconds(300), .seconds(900), .seconds(900), .seconds(3600)])
    }

    @Test func onlyFailuresWithinTwoHoursDisableAHook() {
        let catalog = AmoCatalog(AmoCRMSimulator.Configuration())
        let hub = AmoWebhookHub(catalog: catalog, destinations: ["http://hook"], disableThreshold: 100, timeScale: 1, seed: 1, now: 0)
        let start = Instant.now
        func fail(at instant: Instant) {
            hub.record(
                AmoWebhookAttempt(
                    deliveryID: 1, destination: "http://hook", body: "", attempt: 1, status: 500,
                    succeeded: false, requestID: "r", at: .now, isAutomation: false), at: instant)
        }
        for minute in 0..<60 { fail(at: start + .seconds(minute * 60)) }
        // Three hours later: the first 60 fell out of the window.
        for second in 0..<60 { fail(at: start + .seconds(3 * 3600 + second)) }
        #expect(hub.subscriptions[0].disabled == false)
        for second in 60..<100 { fail(at: start + .seconds(3 * 3600 + second)) }
        #expect(hub.subscriptions[0].disabled == false, "exactly 100 is not more than 100")
        fail(at: start + .seconds(3 * 3600 + 200))
        #expect(hub.subscriptions[0].disabled == true)
    }

    @Test func jsonKeepsIntegersApartFromFractions() throws {
        let value = try AmoJSONParser.parse(#"{"a":10,"b":10.5,"c":"10","d":[true,null],"e":"\u00e9\/"}"#)
        #expect(value["a"] == .int(10))
        #expect(value["b"] == .double(10.5))
        #expect(value["c"] == .string("10"))
        #expect(value["d"] == .array([.bool(true), .null]))
        #expect(value["e"] == .string("é/"))
        #expect(value.text == #"{"a":10,"b":10.5,"c":"10","d":[true,null],"e":"é\/"}"#)
        #expect(throws: AmoJSONParser.Failure.self) { try AmoJSONParser.parse("[1,]") }
    }
}
