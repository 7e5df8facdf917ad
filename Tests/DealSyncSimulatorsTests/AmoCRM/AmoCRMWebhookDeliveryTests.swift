import DealSyncCore
import DealSyncSimulators
import DealSyncTestSupport
import Foundation
import NIOHTTP1
import Testing

/// Delivery rules: amoCRM's retry schedule (scaled), timeouts, disabling a failing hook, pausing,
/// subscriptions by API and key order that varies but replays under a seed.
struct AmoCRMWebhookDeliveryTests {
    typealias Default = Amo.Default

    /// 5 minutes become 50 ms.
    static let scale = 1.0 / 6000

    /// The retry schedule is checked on a ``ManualClock``: the test reads how long the sender chose to wait and lets
    /// that time pass at once, so neither the check nor the test's length depends on how busy the machine is.
    static func withHooked<T: Sendable>(
        scale: Double = scale, timeout: Duration = .seconds(2), seed: UInt64 = 7, retryClock: ManualClock? = nil,
        _ body: @Sendable (AmoCRMSimulator, AmoClient, HookReceiver) async throws -> T
    ) async throws -> T {
        let receiver = HookReceiver(prefix: "hooks")
        return try await receiver.withRunning { receiverBase in
            var configuration = Amo.configuration(seed: seed)
            configuration.webhooks = [receiverBase + "/hooks/main"]
            configuration.webhookTimeScale = scale
            configuration.webhookTimeout = timeout
            if let retryClock { configuration.webhookRetryClock = retryClock }
            let ready = configuration
            return try await Amo.withSimulator(ready) { simulator, client in try await body(simulator, client, receiver) }
        }
    }

    static func touch(_ simulator: AmoCRMSimulator, price: Int = 1) throws {
        let lead = try #require(simulator.allLeads(includingDeleted: false).first)
        try simulator.editAsSalesperson(leadID: lead.id, userID: Default.salesAnna, AmoLeadFields(price: price))
    }

    /// Waits until `count` deliveries sleep before their next retry, and returns how long each still has to wait.
    static func retriesWaiting(_ count: Int, on clock: ManualClock) async throws -> [Duration] {
        try await eventually("\(count) retries waiting", timeout: .seconds(3), every: .milliseconds(10)) {
            clock.pendingDelays.count == count
        }
        return clock.pendingDelays
    }

    static func isAbout(_ duration: Duration, _ expected: Duration) -> Bool {
        abs((duration - expected) / .microseconds(1)) < 1
    }

    @Test func aClientErrorIsRetriedAfter5And15MinutesOnly() async throws {
        let clock = ManualClock()
        try await Self.withHooked(scale: 1, retryClock: clock) { simulator, _, receiver in
            receiver.respond(status: 400)
            try Self.touch(simulator)
            try await eventually("the first attempt", timeout: .seconds(3), every: .milliseconds(10)) { receiver.received.count == 1 }
            let afterFirst = try await Self.retriesWaiting(1, on: clock)
            #expect(Self.isAbout(afterFirst[0], .seconds(300)), "5 minutes after the first failure, not \(afterFirst[0])")
            clock.advance(by: afterFirst[0] - .seconds(1))
            #expect(clock.pendingDelays.count == 1 && receiver.received.count == 1, "not a second early")
            clock.advance(by: .seconds(1))
            try await eventually("the second attempt", timeout: .seconds(3), every: .milliseconds(10)) { receiver.received.count == 2 }
            let afterSecond = try await Self.retriesWaiting(1, on: clock)
            #expect(Self.isAbout(afterSecond[0], .seconds(900)), "15 minutes after the second, not \(afterSecond[0])")
            clock.advance(by: afterSecond[0])
            try await eventually("the third attempt", timeout: .seconds(3), every: .milliseconds(10)) { receiver.received.count == 3 }
            try await eventually("the delivery finished", timeout: .seconds(3), every: .milliseconds(10)) { simulator.pendingWebhooks == 0 }
            #expect(clock.pendingDelays.isEmpty, "no 15 min / 1 h retries after a 4xx")
            #expect(receiver.received.count == 3)
            #expect(simulator.webhookHistory.map(\.attempt) == [1, 2, 3])
            #expect(simulator.webhookHistory.allSatisfy { $0.status == 400 && !$0.succeeded })
            #expect(Set(receiver.received.map(\.body)).count == 1, "every retry carries the same body")
        }
    }

    @Test func aServerErrorIsRetriedFourTimesOnTheFullSchedule() async throws {
        // 5 min, 15 min, 15 min, 1 h, scaled: 50, 150, 150, 600 ms of the manual clock.
        let clock = ManualClock()
        try await Self.withHooked(retryClock: clock) { simulator, _, receiver in
            receiver.respond(status: 503)
            try Self.touch(simulator)
            let expected: [Duration] = [.milliseconds(50), .milliseconds(150), .milliseconds(150), .milliseconds(600)]
            for (index, delay) in expected.enumerated() {
                try await eventually("attempt \(index + 1)", timeout: .seconds(3), every: .milliseconds(10)) {
                    receiver.received.count == index + 1
                }
                let waiting = try await Self.retriesWaiting(1, on: clock)
                #expect(Self.isAbout(waiting[0], delay), "retry \(index + 1) waits \(waiting[0]), not \(delay)")
                clock.advance(by: waiting[0] - .milliseconds(1))
                #expect(receiver.received.count == index + 1 && clock.pendingDelays.count == 1, "not early")
                clock.advance(by: .milliseconds(1))
            }
            try await eventually("five attempts", timeout: .seconds(3), every: .milliseconds(10)) { receiver.received.count == 5 }
            try await eventually("the delivery given up", timeout: .seconds(3), every: .milliseconds(10)) { simulator.pendingWebhooks == 0 }
            #expect(clock.pendingDelays.isEmpty, "no sixth attempt")
            #expect(receiver.received.count == 5)
            #expect(simulator.stats.webhooksFailed == 5)
            #expect(simulator.webhookHistory.map(\.status) == [503, 503, 503, 503, 503])
        }
    }

    @Test func aReceiverSlowerThanTheTimeoutHasFailed() async throws {
        let clock = ManualClock()
        try await Self.withHooked(timeout: .seconds(1), retryClock: clock) { simulator, _, receiver in
            receiver.respond(status: 200, delay: .seconds(5))
            try Self.touch(simulator)
            try await eventually("the first attempt recorded", timeout: .seconds(5), every: .milliseconds(10)) {
                !simulator.webhookHistory.isEmpty
            }
            let first = simulator.webhookHistory[0]
            #expect(first.status == nil && !first.succeeded)
            receiver.respond(status: 200)
            let waiting = try await Self.retriesWaiting(1, on: clock)
            clock.advance(by: waiting[0])
            try await eventually("the retry succeeding", timeout: .seconds(3), every: .milliseconds(10)) {
                simulator.webhookHistory.contains { $0.succeeded }
            }
            #expect(simulator.webhookHistory.last?.attempt == 2)
            #expect(simulator.webhookHistory[0].requestID != simulator.webhookHistory[1].requestID)
        }
    }

    @Test func aHookIsDisabledAfterMoreThan100FailuresWithinTwoHours() async throws {
        // 26 deliveries fail 104 times in their first four attempts: the 101st failure disables the hook and the
        // fifth attempts (1 h later) are never sent. Retries wait on the manual clock; the 2 h failure window keeps
        // real time, scaled to 7.2 s, far longer than the four rounds take.
        let clock = ManualClock()
        let scale = 1.0 / 1000
        try await Self.withHooked(scale: scale, retryClock: clock) { simulator, client, receiver in
            receiver.respond(status: 500)
            for price in 1...26 { try Self.touch(simulator, price: price) }
            for (round, delay) in [Duration.seconds(300), .seconds(900), .seconds(900)].enumerated() {
                let waiting = try await Self.retriesWaiting(26, on: clock)
                #expect(waiting.allSatisfy { Self.isAbout($0, delay * scale) }, "round \(round + 1): \(waiting)")
                clock.advance(by: delay * scale)
            }
            try await eventually("the hook disabled", timeout: .seconds(3), every: .milliseconds(10)) {
                simulator.webhookSubscriptions.first?.disabled == true
            }
            // Settled: every delivery still under way waits for its fifth attempt, every attempt sent is recorded.
            try await eventually("the fourth round settled", timeout: .seconds(3), every: .milliseconds(10)) {
                clock.pendingDelays.count == simulator.pendingWebhooks && simulator.webhookHistory.count == receiver.received.count
            }
            let sent = receiver.received.count
            #expect(sent >= 101 && sent <= 104, "attempts after the 101st failure are dropped, sent \(sent)")
            let hourLater = clock.pendingDelays
            #expect(hourLater.count == sent - 78)
            #expect(hourLater.allSatisfy { Self.isAbout($0, .seconds(3600) * scale) }, "\(hourLater)")
            clock.advance(by: .seconds(3600) * scale)
            try await eventually("retries settled", timeout: .seconds(3), every: .milliseconds(10)) { simulator.pendingWebhooks == 0 }
            #expect(receiver.received.count == sent, "the fifth attempts go nowhere")
            #expect(simulator.stats.hooksDisabled == 1)
            #expect(simulator.stats.webhooksLost == 26, "each delivery ends with one attempt refused")
            let listed = try await client.get("/api/v4/webhooks").object.jsonObject("_embedded").jsonArray("webhooks")
            #expect(listed.first?["disabled"] as? Bool == true)

            receiver.respond(status: 200)
            try Self.touch(simulator, price: 99)
            try await Task.sleep(for: .milliseconds(150))
            #expect(receiver.received.count == sent, "a disabled hook receives nothing")

            #expect(try await client.send(.POST, "/_sim/hooks/enable", token: nil).status == 204)
            try Self.touch(simulator, price: 100)
            try await eventually("delivery after re-enabling", timeout: .seconds(3), every: .milliseconds(10)) {
                receiver.received.count == sent + 1
            }
            #expect(simulator.webhookSubscriptions.first?.disabled == false)
        }
    }

    @Test func pausedDeliveryLosesWebhooksAndResumeDeliversNewOnes() async throws {
        try await Self.withHooked { simulator, client, receiver in
            #expect(try await client.send(.POST, "/_sim/webhooks/pause", token: nil).status == 204)
            try Self.touch(simulator, price: 10)
            try await Task.sleep(for: .milliseconds(150))
            #expect(receiver.received.isEmpty)
            #expect(simulator.stats.webhooksLost == 1)
            #expect(try await client.send(.POST, "/_sim/webhooks/resume", token: nil).status == 204)
            try Self.touch(simulator, price: 11)
            try await eventually("the delivery after resuming", timeout: .seconds(3), every: .milliseconds(10)) {
                receiver.received.count == 1
            }
            try await Task.sleep(for: .milliseconds(100))
            #expect(receiver.received.count == 1, "what happened during the pause never arrives")
            let update = try PHPForm.parse(receiver.received[0].body).amoLeads("update").first
            #expect(update?.amoText("price") == "11")
        }
    }

    @Test func subscriptionsByAPIChooseTheActions() async throws {
        let receiver = HookReceiver(prefix: "hooks")
        try await receiver.withRunning { receiverBase in
            try await Amo.withSimulator { simulator, client in
                #expect(try await client.get("/api/v4/webhooks").status == 204)
                let created = try await client.send(
                    .POST, "/api/v4/webhooks",
                    json: """
                        {"destination":"\(receiverBase)/hooks/status-only","settings":["status_lead"]}
                        """)
                #expect(created.status == 201)
                #expect(created.object["disabled"] as? Bool == false)
                #expect(try await client.get("/api/v4/webhooks").object.jsonInt("_total_items") == 1)

                let lead = try #require(simulator.allLeads().first { $0.statusID == Default.newRequest })
                try simulator.editAsSalesperson(leadID: lead.id, userID: Default.salesAnna, AmoLeadFields(price: 5))
                try simulator.editAsSalesperson(leadID: lead.id, userID: Default.salesAnna, AmoLeadFields(statusID: Default.booked))
                try await eventually("the status webhook", timeout: .seconds(3), every: .milliseconds(10)) { receiver.received.count == 1 }
                try await Task.sleep(for: .milliseconds(100))
                let form = try PHPForm.parse(try #require(receiver.received.last).body)
                #expect(form["leads"]?.map?.keys == ["status"], "only the subscribed action is sent")

                let bad = try await client.send(
                    .POST, "/api/v4/webhooks", json: #"{"destination":"\#(receiverBase)/x","settings":["nope"]}"#)
                #expect(bad.status == 400)
                #expect(
                    try await client.send(.DELETE, "/api/v4/webhooks", json: #"{"destination":"\#(receiverBase)/hooks/status-only"}"#)
                        .status == 204)
                #expect(try await client.get("/api/v4/webhooks").status == 204)
            }
        }
    }

    @Test func keyOrderVariesBetweenDeliveriesAndReplaysUnderTheSameSeed() async throws {
        @Sendable func bodies(seed: UInt64) async throws -> [String] {
            try await Self.withHooked(seed: seed) { simulator, _, receiver in
                for price in 1...6 { try Self.touch(simulator, price: price) }
                try await eventually("six deliveries", timeout: .seconds(3), every: .milliseconds(10)) {
                    simulator.webhookHistory.count == 6
                }
                return simulator.webhookHistory.sorted { $0.deliveryID < $1.deliveryID }.map(\.body)
            }
        }
        func keys(_ body: String) -> [String] {
            body.split(separator: "&").map { String($0.split(separator: "=")[0]).replacingOccurrences(of: "%5D", with: "") }
                .map { $0.replacingOccurrences(of: "%5B", with: "[") }
        }
        let first = try await bodies(seed: 11)
        let again = try await bodies(seed: 11)
        let other = try await bodies(seed: 12)
        #expect(Set(first.map(keys)).count > 1, "the order varies between deliveries")
        #expect(first.map(keys) == again.map(keys), "the same seed replays the same orders")
        #expect(first.map(keys) != other.map(keys))
        #expect(first.allSatisfy { Set(keys($0)) == Set(keys(first[0])) }, "only the order varies, not the fields")
    }
}
