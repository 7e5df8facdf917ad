import AsyncHTTPClient
import DealSyncConnectors
import DealSyncCore
import DealSyncSimulators
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// A write-heavy run against a portal whose writes are slow enough to reach Bitrix24's operating limit (480 s of
/// execution per method in ten minutes): the connector slows down before the limit instead of being refused.
struct Bitrix24OperatingPaceTests {
    typealias F = BitrixConnectorFixture

    /// The connector's pacing clock: its waits move the simulator's limits (frozen otherwise) instead of taking time.
    final class SimulatedTime: Sendable {
        private let state = Mutex<(now: Double, pauses: [Double])>((0, []))
        let simulator: Bitrix24Simulator

        init(_ simulator: Bitrix24Simulator) { self.simulator = simulator }

        var pauses: [Double] { state.withLock { $0.pauses } }

        var clock: PacingClock {
            PacingClock(
                now: { self.state.withLock { $0.now } },
                sleep: { duration in
                    let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
                    self.state.withLock { state in
                        state.now += seconds
                        state.pauses.append(seconds)
                    }
                    self.simulator.advanceLimitClock(by: duration)
                })
        }
    }

    /// A portal under load: 2 s of execution for a deal write; a bucket that never refuses, so only the operating
    /// limit is in play.
    static func heavyPortal() -> Bitrix24Simulator {
        F.simulator {
            $0.limits = Bitrix24Simulator.Limits(
                bucketCapacity: 1_000_000, drainPerSecond: 1_000_000,
                cost: Bitrix24Simulator.OperatingCost(perWrite: 2))
        }
    }

    static func update(_ id: Int, title: String) -> Delivery {
        Delivery(
            outboxIDs: [Int64(id)], idempotencyKey: "k\(id)-\(title)", operation: .update, recordID: String(id), masterDealID: nil,
            values: ["TITLE": .text(title)], lineageID: UUID())
    }

    @Test func aWriteHeavyRunSlowsDownBeforeTheOperatingLimitInsteadOfFailing() async throws {
        let simulator = Self.heavyPortal()
        let time = SimulatedTime(simulator)
        try await simulator.withRunning { url in
            simulator.freezeLimitClock()
            let connector = try F.connector(url: url, extra: "rate_limit: {requests_per_second: 1000, burst: 1000}", pacing: time.clock)
            let ids = (0..<25).map { simulator.createAsSalesperson(userID: 12, fields: ["TITLE": "D\($0)", "CATEGORY_ID": "2"]).id }
            // 20 rounds of 25 updates, each one batch of 25 writes and 25 reads: 20 × 57.3 s, more than twice the budget.
            var peak = 0.0
            for round in 0..<20 {
                let outcomes = await connector.deliver(ids.map { Self.update($0, title: "round \(round)") })
                for (id, outcome) in zip(ids, outcomes) {
                    guard case .delivered = outcome else {
                        Issue.record("round \(round), deal \(id): \(outcome)")
                        return
                    }
                }
                let batch = simulator.operatingTime(method: "batch")
                #expect(batch <= 480 && simulator.operatingTime(method: "crm.deal.update") <= 480, "round \(round): \(batch) s")
                peak = max(peak, batch)
            }
            #expect(simulator.stats.operationTimeLimited == 0, "the portal never refused a call")
            #expect(peak > 400, "the run went close to the limit (\(peak) s), not around it")
            #expect(time.pauses.count >= 2 && time.pauses.reduce(0, +) >= 1_100, "it waited for the window: \(time.pauses)")
            #expect(ids.allSatisfy { simulator.deal(id: $0)?.title == "round 19" })
        }
    }

    @Test func aMethodDrivenToItsLimitIsRetriedNotDeadLettered() async throws {
        let simulator = Self.heavyPortal()
        let time = SimulatedTime(simulator)
        try await simulator.withRunning { url in
            simulator.freezeLimitClock()
            let connector = try F.connector(url: url, extra: "rate_limit: {requests_per_second: 1000, burst: 1000}", pacing: time.clock)
            let id = simulator.createAsSalesperson(userID: 12, fields: ["TITLE": "D", "CATEGORY_ID": "2"]).id
            simulator.exhaustOperatingTime(method: "crm.deal.update")
            guard case .retryable(.rateLimited, _, _, _) = await connector.deliver([Self.update(id, title: "a")])[0] else {
                Issue.record("a command refused by the operating limit is worth retrying")
                return
            }
            simulator.exhaustOperatingTime(method: "batch")
            guard case .retryable(.rateLimited, 429, _, let after?) = await connector.deliver([Self.update(id, title: "b")])[0] else {
                Issue.record("a batch refused by the operating limit is worth retrying, later")
                return
            }
            #expect(after >= .seconds(1))
            #expect(simulator.deal(id: id)?.title == "D", "nothing was written")
            #expect(time.pauses.reduce(0, +) >= 60, "the refused command's method was held before the next batch")
            // Both methods are held: the next delivery waits for the reset the last successful batch announced (as
            // Bitrix24 advises), when the portal lets both go again, and is not refused once more.
            let refusals = simulator.stats.operationTimeLimited
            let waited = time.pauses.reduce(0, +)
            guard case .delivered = await connector.deliver([Self.update(id, title: "c")])[0] else {
                Issue.record("the write goes through once the announced reset has passed")
                return
            }
            #expect(time.pauses.reduce(0, +) - waited > 500, "\(time.pauses)")
            #expect(simulator.stats.operationTimeLimited == refusals, "no call was refused meanwhile")
            #expect(simulator.deal(id: id)?.title == "c")
        }
    }

    /// Another process of the same integration filled `crm.deal.update`: the connector learns the account from the
    /// batch's `result_time` (its commands' own accounts) and holds the method, instead of sending it again at once.
    @Test func aCommandMethodsAccountIsLearnedFromResultTime() async throws {
        let simulator = Self.heavyPortal()
        let time = SimulatedTime(simulator)
        try await simulator.withRunning { url in
            simulator.freezeLimitClock()
            let connector = try F.connector(url: url, extra: "rate_limit: {requests_per_second: 1000, burst: 1000}", pacing: time.clock)
            let ids = (0..<25).map { simulator.createAsSalesperson(userID: 12, fields: ["TITLE": "D\($0)", "CATEGORY_ID": "2"]).id }
            // Single updates (no batch) through the same webhook, as another process of the integration would send.
            for call in 0..<225 {
                var request = HTTPClientRequest(url: "\(url)/rest/1/x7k2m9q4w1e8r5t3/crm.deal.update.json")
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: #"{"id":\#(ids[call % 25]),"fields":{"TITLE":"other"}}"#))
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
                _ = try await response.body.collect(upTo: 1 << 16)
                #expect(response.status.code == 200)
            }
            let filled = simulator.operatingTime(method: "crm.deal.update")
            #expect(abs(filled - 225 * 2.021) < 1e-6, "\(filled)")
            #expect(simulator.operatingTime(method: "batch") == 0)

            // This connector knows nothing yet: its first batch crosses the limit and the rest of it is refused.
            let first = await connector.deliver(ids.map { Self.update($0, title: "mine") })
            #expect(first.contains { if case .retryable(.rateLimited, _, _, _) = $0 { true } else { false } })
            #expect(first.allSatisfy { if case .permanent = $0 { false } else { true } }, "nothing is dead-lettered")
            let refusals = simulator.stats.operationTimeLimited
            #expect(refusals > 0)
            let waited = time.pauses.reduce(0, +)
            let second = await connector.deliver(ids.map { Self.update($0, title: "again") })
            #expect(time.pauses.reduce(0, +) - waited >= 500, "it waited for the announced reset: \(time.pauses)")
            #expect(second.allSatisfy { if case .delivered = $0 { true } else { false } })
            #expect(simulator.stats.operationTimeLimited == refusals, "and was not refused again")
        }
    }

    /// A read refused by the limit inside a batch says nothing about the deal: the fetch fails (and is tried again)
    /// rather than take the deal for deleted.
    @Test func aFetchRefusedByTheLimitIsNotTakenForADeletedDeal() async throws {
        let simulator = Self.heavyPortal()
        try await simulator.withRunning { url in
            simulator.freezeLimitClock()
            let connector = try F.connector(
                url: url, extra: "rate_limit: {requests_per_second: 1000, burst: 1000}",
                pacing: SimulatedTime(simulator).clock)
            let id = simulator.createAsSalesperson(userID: 12, fields: ["TITLE": "D", "CATEGORY_ID": "2"]).id
            #expect(try await connector.fetch([String(id), "999999"], lineage: UUID()).count == 1, "a deleted deal is just absent")
            simulator.exhaustOperatingTime(method: "crm.deal.get")
            await #expect(throws: ConnectorError.self) { try await connector.fetch([String(id)], lineage: UUID()) }
        }
    }
}
