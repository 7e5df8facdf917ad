import DealSyncConnectors
import DealSyncCore
import DealSyncStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Delivers one target's outbox: claims due writes (one in flight per record), coalesces them, sends them in
/// the target's batch calls within its rate limit, and retries, dead-letters or re-decides by outcome. A
/// circuit breaker stops it hammering a target that is down.
final class OutboxRelay: Service {
    struct Options: Sendable {
        var batchSize: Int
        var lease: Duration = .seconds(90)
        /// The longest an idle relay sleeps (a write's `NOTIFY` wakes it at once; a retry wakes it when due).
        var idlePoll: Duration = .seconds(5)
        var pausedProbe: Duration = .seconds(30)
        /// The longest a claim may take before the relay gives up on it and tries again.
        var claimLimit: Duration = .seconds(30)
        /// Consecutive writes of one record sent as one request, at most.
        var coalesce = 20
        /// An express relay: serves only the lanes with at most this many writes pending, so a quiet connector's
        /// writes never wait for the other relays to finish rounds of another connector's burst.
        var quietLanes: Int?
        /// The time the relay dates attempts and retries by (and ages writes against).
        var now: @Sendable () -> Date = { Date() }
    }

    let connector: any Connector
    /// Read once per round: a round is delivered and recorded by one configuration.
    let generations: CurrentGeneration
    let claims: OutboxClaims
    let presence: Presence
    let status: ConnectorStatusStore
    let metrics: GatewayMetrics
    let wakeup: Wakeup
    let options: Options
    let worker: String
    let policy: RetryPolicy
    let logger: Logger
    private let breaker: Mutex<CircuitBreaker>
    /// When the paused target is probed next; nil while the last claim found it not paused.
    private let nextProbe = Mutex<ContinuousClock.Instant?>(nil)

    init(
        connector: any Connector, generations: CurrentGeneration, claims: OutboxClaims, presence: Presence, status: ConnectorStatusStore,
        metrics: GatewayMetrics, wakeup: Wakeup, options: Options, worker: String, logger: Logger
    ) {
        self.connector = connector
        self.generations = generations
        self.claims = claims
        self.presence = presence
        self.status = status
        self.metrics = metrics
        self.wakeup = wakeup
        self.options = options
        self.worker = worker
        self.logger = logger
        let delivery = connector.config.delivery
        self.policy = RetryPolicy(delivery)
        self.breaker = Mutex(CircuitBreaker(threshold: delivery.breakerThreshold, cooldown: delivery.breakerCooldown))
    }

    var target: String { connector.config.id }

    func run() async throws {
        metrics.breaker(target, state: 0)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            // Claims are made only while this process is present, so that another one can tell them from the
            // claims of a process that died, and take those over at once.
            await presence.waitUntilHeld()
            do {
                // Not waiting for ever on a connection whose server crashed: see abandonedWhenStopping.
                let worked = try await claims.database.abandonedWhenStopping { try await self.cycle() }
                if !worked {
                    let due = try await claims.database.abandonedWhenStopping { try await self.claims.nextDue(target: self.target) }
                    await wakeup.wait(timeout: IdleWait.duration(nextDue: due, longest: options.idlePoll))
                }
            } catch  where Task.isCancelled || error is CancellationError {  // it may arrive wrapped, e.g. in a transaction error
                return
            } catch {
                logger.error("relay cycle failed", metadata: ["target": "\(target)", "error": "\(ErrorSummary.line(error))"])
                await pause(.seconds(1))
            }
        }
    }

    /// One claim-and-deliver round; returns whether there was work.
    func cycle() async throws -> Bool {
        // Whether the target is paused comes with the claim: found paused, it claims nothing and the next round
        // waits `pausedProbe`, then claims one write as a probe, whose success resumes the connector.
        let probeAt = nextProbe.withLock { $0 }
        if let probeAt { await pause(ContinuousClock.now.duration(to: probeAt)) }
        let whenPaused: OutboxClaims.WhenPaused = probeAt == nil ? .skip : .probe
        var limit = options.batchSize
        let permission = breaker.withLock { $0.permission(at: .now) }
        switch permission {
        case .wait(let until):
            metrics.breaker(target, state: 2)
            await pause(ContinuousClock.now.duration(to: until))
            return true
        case .probe:
            metrics.breaker(target, state: 1)
            limit = 1
        case .allowed:
            break
        }
        let (claims, target, worker, lease, rows, coalesce, quiet) = (
            self.claims, self.target, self.worker, options.lease, limit, options.coalesce, options.quietLanes
        )
        var phase = ContinuousClock.now
        func timed(_ name: String) {
            let now = ContinuousClock.now
            metrics.relayPhase(target, phase: name, relay: quiet == nil ? "regular" : "express", phase.duration(to: now))
            phase = now
        }
        // PostgreSQL cancels a claim a little before the relay would stop waiting for it, so none is left running.
        let (limitOfClaim, statementLimit) = (options.claimLimit, options.claimLimit * 0.9)
        let round = try await claims.database.bounded(limitOfClaim) {
            try await claims.claimRound(
                target: target, limit: rows, worker: worker, lease: lease, coalesce: coalesce, timeout: statementLimit,
                quietLanes: quiet, whenPaused: whenPaused)
        }
        let (paused, groups) = (round.paused, round.groups)
        metrics.paused(target, paused != nil)
        let pausedProbe = options.pausedProbe
        nextProbe.withLock { $0 = paused == nil ? nil : .now + pausedProbe }
        // Paused and nothing claimed: the next round waits for the probe.
        if paused != nil, groups.isEmpty { return true }
        guard !groups.isEmpty else {
            // The notice that woke an express relay may be a burst's, which it leaves alone: a relay that waits takes it.
            if quiet != nil, wakeup.waiting > 0 { wakeup.signalOne() }
            return false
        }
        // A notice wakes one relay of the target: after a full round another one claims the next while this one sends.
        if groups.count >= rows, rows == options.batchSize { wakeup.signalOne() }
        timed("claim")
        let generation = generations.current
        let connector = generation.registry.connector(target) ?? self.connector
        let answers = await connector.deliver(groups.map(\.delivery))
        timed("send")
        breaker.withLock { $0.record(round: answers, at: .now) }
        try await apply(Array(zip(groups, answers)), wasPaused: paused != nil, connector: connector, outcomes: generation.outcomes)
        timed("record")
        metrics.breaker(target, state: breaker.withLock { $0.gaugeValue })
        return true
    }

    /// Records a round: every confirmation, retry and dead letter in one transaction; a refusal (MasterDeal's 412)
    /// or a paused connector on its own.
    private func apply(
        _ round: [(group: WriteGroup, answer: DeliveryOutcome)], wasPaused: Bool, connector: any Connector,
        outcomes: DeliveryOutcomes
    ) async throws {
        var recorded: [(group: WriteGroup, outcome: DeliveryOutcomes.Outcome)] = []
        let now = options.now()
        for (group, answer) in round {
            let attempts = group.head.attempts + 1
            let step = policy.step(
                for: answer, attempts: attempts, age: .seconds(now.timeIntervalSince(group.createdAt)), pausedProbe: options.pausedProbe,
                unit: Double.random(in: 0..<1))
            let attempt = AttemptRecord(
                at: now, status: answer.status, errorClass: answer.errorClassName, detail: answer.detail, worker: worker)
            switch (step, answer) {
            case (.confirm, .delivered(let recordID, let landedAt)):
                recorded.append((group, .delivered(recordID: recordID, landedAt: landedAt, attempt: attempt)))
            case (.retry(let delay), _):
                recorded.append((group, .retry(at: now.addingTimeInterval(Self.seconds(delay)), attempt: attempt)))
            case (.deadLetter(let errorClass), _):
                recorded.append((group, .deadLetter(errorClass, attempt: attempt)))
            case (.redecide, .stale(let refetched)):
                var observations: [Observation] = []
                if let refetched, case .observations(let decoded)? = try? connector.decode(InboxRow(id: 0, item: refetched)) {
                    observations = decoded
                }
                guard try await outcomes.superseded(group, refetched: refetched, observations: observations) else {
                    takenOver(group); continue
                }
                metrics.delivery(target, outcome: "stale", count: group.writes.count)
                wakeup.signal()
            case (.pause(let probe), .paused(let errorClass, _, let reason)):
                guard try await outcomes.retry(group, at: now.addingTimeInterval(Self.seconds(probe)), attempt: attempt) else {
                    takenOver(group); continue
                }
                try await self.status.pause(target, reason: reason)
                let pausedProbe = options.pausedProbe
                nextProbe.withLock { $0 = .now + pausedProbe }
                metrics.paused(target, true)
                if errorClass == .auth { metrics.authFailure(target) }
                metrics.delivery(target, outcome: "paused", count: group.writes.count)
                logger.error("connector paused", metadata: ["target": "\(target)", "reason": "\(reason)"])
            case (.confirm, _), (.redecide, _), (.pause, _):
                preconditionFailure("RetryPolicy.step confirms only deliveries, re-decides only stale writes, pauses only paused ones")
            }
        }
        let held = try await outcomes.record(recorded)
        var resumed = false
        for ((group, outcome), held) in zip(recorded, held) {
            // What a late claim learnt is not acted on: only the claim that holds the writes resumes the connector.
            guard held else { takenOver(group); continue }
            let lineage = group.head.lineageID.uuidString.lowercased()
            switch outcome {
            case .delivered(let recordID, _, _):
                if wasPaused, !resumed {
                    try await status.resume(target)
                    nextProbe.withLock { $0 = nil }
                    resumed = true
                }
                metrics.delivery(target, outcome: "delivered", count: group.writes.count)
                logger.debug(
                    "delivered",
                    metadata: [
                        "target": "\(target)", "record": "\(recordID)", "rows": "\(group.writes.count)",
                        "lineage_id": "\(lineage)",
                    ])
            case .retry(_, let attempt):
                metrics.retry(target, errorClass: attempt.errorClass)
                metrics.delivery(target, outcome: "retried", count: group.writes.count)
            case .deadLetter(let errorClass, let attempt):
                metrics.deadLetters(target, count: group.writes.count)
                metrics.delivery(target, outcome: "dead_lettered", count: group.writes.count)
                logger.warning(
                    "dead-lettered",
                    metadata: [
                        "target": "\(target)", "error_class": "\(errorClass.rawValue)",
                        "status": "\(attempt.status.map(String.init) ?? "-")",
                        "attempts": "\(group.head.attempts + 1)", "lineage_id": "\(lineage)",
                    ])
            }
        }
    }

    /// This claim's lease ran out and another claim took the writes over: its outcome is that claim's to record.
    private func takenOver(_ group: WriteGroup) {
        metrics.delivery(target, outcome: "taken_over", count: group.writes.count)
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
