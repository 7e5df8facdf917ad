import DealSyncConnectors
import DealSyncCore
import DealSyncSimulators
import Foundation
import Testing

/// How each answer (or no answer) of MasterDeal is classified: retry later, give up, re-read, or pause.
struct MasterDealOutcomeTests {
    /// Runs a simulator with one deal and `faults`, and answers the outcome of one update of that deal.
    static func outcome(
        faults: FaultSettings = FaultSettings(), options: MasterDealFixture.Options = .init(),
        transitions: [String: [String]]? = nil, recordID: String? = nil,
        values: [String: FieldValue] = ["opportunity_name": .text("Renamed")],
        check: @Sendable (MasterDealSimulator) throws -> Void = { _ in }
    ) async throws -> DeliveryOutcome {
        let simulator = MasterDealSimulator(configuration: MasterDealFixture.simulatorConfiguration(transitions: transitions))
        return try await simulator.withRunning { baseURL in
            let connector = try MasterDealFixture.connector(baseURL: baseURL, options)
            let deal = try simulator.createAsUser(MasterDealFixture.fullDeal)
            simulator.faults.update(faults)
            let delivery = MasterDealFixture.delivery(.update, recordID: recordID ?? deal.id, values: values, knownVersion: 1)
            let outcome = try #require(await connector.deliver([delivery]).first)
            simulator.faults.update(FaultSettings())
            #expect(simulator.deal(id: deal.id)?.version == 1, "a failed write changes nothing")
            try check(simulator)
            return outcome
        }
    }

    @Test func rateLimitedIsRetryableAfterRetryAfter() async throws {
        var faults = FaultSettings()
        faults.rateLimitRate = 1
        faults.retryAfterSeconds = 7
        let outcome = try await Self.outcome(faults: faults)
        guard case .retryable(.rateLimited, let status, _, let retryAfter) = outcome else {
            Issue.record("expected a retryable rate limit, got \(outcome)")
            return
        }
        #expect(status == 429)
        #expect(retryAfter == .seconds(7))
    }

    @Test func aServiceThatIsDownIsRetryable() async throws {
        var faults = FaultSettings()
        faults.down = true
        let outcome = try await Self.outcome(faults: faults) { simulator in
            #expect(simulator.stats.requests("PATCH /v1/deals/{id}", status: 503) == 1)
        }
        guard case .retryable(.serverError, let status, _, _) = outcome else {
            Issue.record("expected a retryable server error, got \(outcome)")
            return
        }
        #expect(status == 503)
    }

    @Test func aServerErrorIsRetryable() async throws {
        var faults = FaultSettings()
        faults.errorRate = 1
        let outcome = try await Self.outcome(faults: faults)
        guard case .retryable(.serverError, let status, _, _) = outcome else {
            Issue.record("expected a retryable server error, got \(outcome)")
            return
        }
        #expect(status == 500)
    }

    @Test func anInvalidStageTransitionIsPermanent() async throws {
        let outcome = try await Self.outcome(
            transitions: ["lead": ["qualified"], "qualified": ["proposal"]], values: ["stage": .text("won")])
        guard case .permanent(.validation, let status, let detail) = outcome else {
            Issue.record("expected a permanent validation failure, got \(outcome)")
            return
        }
        #expect(status == 422)
        #expect(detail.contains("invalid-stage-transition"), "the problem is kept for the dead-letter queue: \(detail)")
    }

    @Test func anUnknownDealIsPermanentlyNotFound() async throws {
        let outcome = try await Self.outcome(recordID: "md-00000000")
        guard case .permanent(.notFound, let status, _) = outcome else {
            Issue.record("expected a permanent not-found, got \(outcome)")
            return
        }
        #expect(status == 404)
    }

    @Test func aRefusedTokenPausesTheConnector() async throws {
        let outcome = try await Self.outcome(options: .init(token: "revoked-token"))
        guard case .paused(.auth, let status, let reason) = outcome else {
            Issue.record("expected a pause for auth, got \(outcome)")
            return
        }
        #expect(status == 401)
        #expect(!reason.contains("revoked-token"), "the token is never repeated")
    }

    @Test func aReceiverThatHangsPastTheRequestTimeoutIsARetryableTimeout() async throws {
        var faults = FaultSettings()
        faults.timeoutRate = 1
        faults.hangMillis = 900
        let outcome = try await Self.outcome(faults: faults, options: .init(requestTimeout: "300ms"))
        // Had the connector waited for the hang, the answer would be the simulator's 500 after 0.9 s.
        guard case .retryable(.timeout, let status, _, _) = outcome else {
            Issue.record("expected a retryable timeout, got \(outcome)")
            return
        }
        #expect(status == nil)
    }

    @Test func aServiceThatCannotBeReachedIsRetryable() async throws {
        // Nothing listens on port 1 of loopback: every connection is refused. AsyncHTTPClient keeps retrying the
        // connection until the request deadline, so the answer is a network error or a timeout, both retryable.
        let connector = try MasterDealFixture.connector(baseURL: "http://127.0.0.1:1", .init(requestTimeout: "300ms"))
        let delivery = MasterDealFixture.delivery(.update, recordID: "md-1", values: ["stage": .text("won")], knownVersion: 1)
        let outcome = try #require(await connector.deliver([delivery]).first)
        guard case .retryable(let errorClass, nil, _, nil) = outcome else {
            Issue.record("expected a retryable failure without a status, got \(outcome)")
            return
        }
        #expect(errorClass == .network || errorClass == .timeout)
    }

    @Test func anUpdateWithoutADealIDIsPermanent() async throws {
        let recorder = RequestRecorder()
        let outcome = try await recorder.withRunning { baseURL in
            let connector = try MasterDealFixture.connector(baseURL: baseURL)
            return await connector.deliver([MasterDealFixture.delivery(.update, values: ["stage": .text("won")])]).first
        }
        guard case .permanent(.validation, nil, _)? = outcome else {
            Issue.record("expected a permanent validation failure, got \(String(describing: outcome))")
            return
        }
        #expect(recorder.requests.isEmpty, "nothing is sent")
    }
}
