import DealSyncSimulators
import DealSyncTestSupport
import Foundation
import NIOHTTP1
import Testing

/// Event delivery: signatures a receiver can verify, retries with backoff, giving up, pause / resume.
struct MasterDealEventDeliveryTests {
    /// Checks `X-Signature` with Python's `hmac` (an implementation independent of the simulator's).
    func verify(_ request: MasterDealEventReceiver.Received, current: String, previous: String? = nil) async throws -> Int32 {
        let directory = try ContractCheck.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let body = directory.appendingPathComponent("body.json")
        try request.body.write(to: body)
        var environment = ["MASTERDEAL_EVENT_SECRET": current]
        if let previous { environment["MASTERDEAL_EVENT_SECRET_PREVIOUS"] = previous }
        let result = try await ContractCheck.run(
            ["signature", request.headers["x-signature"] ?? "", body.path],
            environment: environment)
        return result.status
    }

    @Test func theSignatureVerifiesWithTheTargetSecretOnly() async throws {
        let receiver = MasterDealEventReceiver()
        let received = try await receiver.withSimulator(secret: "whsec-current") { _, client, _ in
            _ = try await client.create()
            return try await receiver.waitFor(1)
        }
        let request = try #require(received.first)
        let signature = try #require(request.headers["x-signature"])
        let parts = signature.split(separator: ",")
        #expect(parts.count == 2)
        let t = try #require(parts.first.flatMap { $0.hasPrefix("t=") ? Int($0.dropFirst(2)) : nil })
        #expect(abs(Double(t) - Date().timeIntervalSince1970) < 10)
        let hex = String(parts.last?.dropFirst(3) ?? "")
        #expect(parts.last?.hasPrefix("v1=") == true)
        #expect(hex.count == 64 && hex.allSatisfy { "0123456789abcdef".contains($0) })
        #expect(try await verify(request, current: "whsec-current") == 0)
        #expect(try await verify(request, current: "whsec-wrong") == 1)
        // Rotation: a receiver that already has a new secret still accepts the previous one.
        #expect(try await verify(request, current: "whsec-next", previous: "whsec-current") == 0)
        // The signature covers the raw body: any change breaks it.
        var tampered = request
        tampered.body = request.body + Data(" ".utf8)
        #expect(try await verify(tampered, current: "whsec-current") == 1)
    }

    @Test func aFailingReceiverGetsTheSameEventAgainUntilItAcknowledges() async throws {
        let receiver = MasterDealEventReceiver(failFirst: 2)
        try await receiver.withSimulator { simulator, client, _ in
            _ = try await client.create()
            let received = try await receiver.waitFor(3)
            #expect(received.count == 3)
            #expect(Set(received.map(\.body)).count == 1)
            #expect(Set(received.compactMap { $0.headers["x-event-id"] }).count == 1)
            // The sender is done with the event (acknowledged: nothing left to retry), so no fourth request comes.
            try await eventually("the sender is done with the event", timeout: .seconds(10)) { simulator.stats.eventsPending == 0 }
            #expect(receiver.requests.count == 3)
            let attempts = simulator.deliveryAttempts
            #expect(attempts.map(\.succeeded) == [false, false, true])
            #expect(attempts.map(\.status) == [500, 500, 200])
            let stats = simulator.stats
            #expect(stats.eventsSent == 1)
            #expect(stats.eventAttemptsFailed == 2)
            #expect(stats.eventsFailed == 0)
        }
    }

    @Test func deliveryGivesUpAfterSixRetries() async throws {
        let receiver = MasterDealEventReceiver(failFirst: .max)
        var configuration = masterDealTestConfiguration()
        configuration.eventTimeScale = 0.002
        try await receiver.withSimulator(configuration) { simulator, client, _ in
            _ = try await client.create()
            // 1+2+5+10+30+60 s scaled by 0.002 is about 0.22 s.
            let received = try await receiver.waitFor(7, timeout: .seconds(4))
            #expect(received.count == 7)
            // The sender gave up (nothing pending any more): no eighth request comes.
            try await eventually("the sender gave up", timeout: .seconds(10)) {
                simulator.stats.eventsPending == 0 && simulator.stats.eventsFailed == 1
            }
            #expect(receiver.requests.count == 7)
            #expect(simulator.stats.eventsFailed == 1)
            #expect(simulator.stats.eventsPending == 0)
        }
    }

    @Test func pausedEventsAreDroppedAndResumedEventsFlow() async throws {
        let receiver = MasterDealEventReceiver()
        try await receiver.withSimulator { simulator, client, _ in
            let id = try #require(try await client.create()["id"]?.stringValue)
            _ = try await receiver.waitFor(1)
            let pause = try await client.send(.POST, "/_sim/events/pause")
            #expect(pause.status == 200)
            #expect(simulator.eventsPaused)
            _ = try await client.write(.POST, "/v1/deals/\(id)/stage", #"{"stage":"qualified"}"#)
            // The change's event is recorded as dropped and nothing is being sent: the receiver got nothing more.
            try await eventually("the paused event is dropped", timeout: .seconds(10)) {
                simulator.eventHistory.last?.dropped == true && simulator.stats.eventsPending == 0
            }
            #expect(receiver.requests.count == 1)
            _ = try await client.send(.POST, "/_sim/events/resume")
            _ = try await client.write(.POST, "/v1/deals/\(id)/stage", #"{"stage":"proposal"}"#)
            let received = try await receiver.waitFor(2)
            #expect(received.count == 2)
            #expect(try received.last?.json["previous_stage"] == "qualified")
            #expect(try received.last?.json["version"] == .number(3))
            #expect(simulator.stats.eventsDropped == 1)
            #expect(simulator.stats.eventsEmitted == 3)
        }
    }

    @Test func eventTargetsCanBeReplacedAtRunTime() async throws {
        let first = MasterDealEventReceiver()
        let second = MasterDealEventReceiver()
        try await SimulatorHost.withRunning(router: second.makeRouter()) { secondURL in
            try await first.withSimulator { _, client, _ in
                _ = try await client.create()
                _ = try await first.waitFor(1)
                let put = try await client.send(
                    .PUT, "/_sim/event-targets",
                    body: #"[{"url":"\#(secondURL)/events","secret":"two"}]"#)
                #expect(put.status == 200)
                #expect(!put.text.contains("two"))
                _ = try await client.create()
                #expect(try await second.waitFor(1).count == 1)
                #expect(first.requests.count == 1)
            }
        }
    }
}
