import AsyncHTTPClient
import DealSyncSimulators
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// The leaky bucket (503 `QUERY_LIMIT_EXCEEDED`), the operating limit (429 `OPERATION_TIME_LIMIT`), faults.
struct Bitrix24LimitTests {
    static func limited(_ limits: Bitrix24Simulator.Limits) -> Bitrix24Simulator.Configuration {
        var configuration = BitrixTest.configuration()
        configuration.limits = limits
        return configuration
    }

    /// A concurrent burst of 60 against the standard bucket (50, draining 2 a second), on the limits' frozen clock: the
    /// burst takes no time for the bucket however slowly the machine sends it.
    @Test func aBurstAbove50GetsQueryLimitExceeded() async throws {
        try await BitrixTest.withSimulator(Self.limited(Bitrix24Simulator.Limits(operatingBudgetSeconds: nil))) { simulator, client in
            simulator.freezeLimitClock()
            let replies = try await withThrowingTaskGroup(of: WireReply.self) { group in
                for _ in 0..<60 { group.addTask { try await client.call("crm.deal.get", json: #"{"id":101}"#) } }
                return try await group.reduce(into: [WireReply]()) { $0.append($1) }
            }
            let statuses = replies.map(\.status)
            #expect(statuses.filter { $0 == 200 }.count == 50, "50 fit in the bucket")
            #expect(statuses.filter { $0 == 503 }.count == 10, "the rest are refused: \(statuses)")
            let reply = try #require(replies.first { $0.status == 503 })
            #expect(reply.body == #"{"error":"QUERY_LIMIT_EXCEEDED","error_description":"Too many requests"}"#)
            #expect(simulator.stats.queryLimitExceeded == 10)
            #expect(simulator.stats.bucketLevelMax == 50)
            #expect(simulator.bucketLevel == 50, "refused requests are not counted")
            #expect(try await client.get("/_sim/stats").status == 200, "control routes are never limited")

            // It drains 2 a second: one more request fits after half a second, not a millisecond earlier.
            simulator.advanceLimitClock(by: .milliseconds(499))
            #expect(try await client.call("crm.deal.get", json: #"{"id":101}"#).status == 503)
            simulator.advanceLimitClock(by: .milliseconds(1))
            #expect(abs(simulator.bucketLevel - 49) < 1e-9)
            #expect(try await client.call("crm.deal.get", json: #"{"id":101}"#).status == 200, "it drains")
            #expect(try await client.call("crm.deal.get", json: #"{"id":101}"#).status == 503)
            #expect(simulator.stats.queryLimitExceeded == 12)

            // Once the clock runs again, it drains in real time.
            simulator.unfreezeLimitClock()
            try await Task.sleep(for: .milliseconds(600))
            #expect(simulator.bucketLevel <= 50 - 1.2 + 1e-9)
            #expect(try await client.call("crm.deal.get", json: #"{"id":101}"#).status == 200, "it drains")
        }
    }

    @Test func requestsPacedAtTheDrainRateAreNeverRefused() async throws {
        let limits = Bitrix24Simulator.Limits(bucketCapacity: 3, drainPerSecond: 20, operatingBudgetSeconds: nil)
        try await BitrixTest.withSimulator(Self.limited(limits)) { simulator, client in
            for _ in 0..<12 {
                #expect(try await client.call("crm.deal.get", json: #"{"id":101}"#).status == 200)
                try await Task.sleep(for: .milliseconds(60))
            }
            #expect(simulator.stats.queryLimitExceeded == 0)
        }
    }

    @Test func aBatchIsOneRequestForTheBucket() async throws {
        let limits = Bitrix24Simulator.Limits(bucketCapacity: 3, drainPerSecond: 0.01, operatingBudgetSeconds: nil)
        let commands = (0..<50).map { #""c\#($0)":"crm.deal.get?id=101""# }.joined(separator: ",")
        try await BitrixTest.withSimulator(Self.limited(limits)) { simulator, client in
            for _ in 0..<3 {
                let reply = try await client.call("batch", json: #"{"cmd":{\#(commands)}}"#)
                #expect(reply.status == 200)
                #expect(reply.resultObject.bitrixObject("result").count == 50)
            }
            let fourth = try await client.call("crm.deal.get", json: #"{"id":101}"#)
            #expect(fourth.status == 503 && fourth.error == "QUERY_LIMIT_EXCEEDED")
            #expect(simulator.stats.batchCommands == 150)
            #expect(simulator.stats.requestsTotal == 4)
        }
    }

    /// Budget 1 s, 0.4 s a call, ten minutes scaled to 1.5 s: the third call crosses the budget and completes, the
    /// fourth is refused until the oldest bucket leaves; other methods and other callers are not affected. The limits'
    /// clock is frozen and moved by hand, and the portal's clock frozen, so the window is exact however slow the calls.
    @Test func operationTimeLimitBlocksOneMethodForOneCallerUntilReset() async throws {
        var limits = Bitrix24Simulator.Limits.unlimited
        limits.operatingBudgetSeconds = 1.0
        limits.timeScale = 1.5 / 600
        limits.cost = Bitrix24Simulator.OperatingCost(perCall: 0.4, perRow: 0, perCountedRow: 0)
        try await BitrixTest.withSimulator(Self.limited(limits)) { simulator, client in
            simulator.freezeLimitClock()
            let portalNow = simulator.now
            simulator.freezeClock(at: portalNow)
            var operating: [Double] = []
            for _ in 0..<3 {
                let reply = try await client.call("crm.deal.get", json: #"{"id":101}"#)
                #expect(reply.status == 200)
                operating.append(reply.time["operating"] as? Double ?? -1)
                #expect(reply.time.bitrixInt("operating_reset_at") == portalNow + 2, "1.5 s later, in whole seconds")
            }
            #expect(zip(operating, [0.4, 0.8, 1.2]).allSatisfy { abs($0 - $1) < 1e-9 }, "\(operating)")
            let blocked = try await client.call("crm.deal.get", json: #"{"id":101}"#)
            #expect(blocked.status == 429)
            #expect(blocked.error == "OPERATION_TIME_LIMIT")
            #expect(blocked.errorDescription == "Method is blocked due to operation time limit.")
            #expect(try await client.call("crm.deal.list", json: "{}").status == 200, "other methods still work")
            #expect(try await client.app("crm.deal.get", json: #"{"id":101}"#).status == 200, "the app has its own account")
            let inBatch = try await client.call("batch", json: #"{"cmd":{"a":"crm.deal.get?id=101"}}"#)
            #expect(inBatch.status == 200)
            #expect(inBatch.resultObject.bitrixObject("result_error").bitrixObject("a").bitrixString("error") == "OPERATION_TIME_LIMIT")
            #expect(simulator.stats.operationTimeLimited == 2)

            simulator.advanceLimitClock(by: .milliseconds(1499))
            #expect(try await client.call("crm.deal.get", json: #"{"id":101}"#).status == 429, "not a millisecond early")
            simulator.advanceLimitClock(by: .milliseconds(1))
            let released = try await client.call("crm.deal.get", json: #"{"id":101}"#)
            #expect(released.status == 200, "the oldest bucket has left")
            #expect(abs((released.time["operating"] as? Double ?? -1) - 0.4) < 1e-9, "a new account starts")
            #expect(simulator.stats.operationTimeLimited == 3)
        }
    }

    @Test func countingRowsCostsExecutionTimeThatStartMinusOneSaves() async throws {
        var limits = Bitrix24Simulator.Limits.unlimited
        limits.operatingBudgetSeconds = 1000
        limits.cost = Bitrix24Simulator.OperatingCost(perCall: 0, perRow: 0.01, perCountedRow: 0.1)
        try await BitrixTest.withSimulator(Self.limited(limits)) { _, client in
            let counted = try await client.call("crm.deal.list", json: #"{"select":["ID"]}"#)
            #expect(abs((counted.time["operating"] as? Double ?? 0) - 0.55) < 1e-9, "5 rows returned, 5 counted")
            let uncounted = try await client.call("crm.deal.list", json: #"{"select":["ID"],"start":-1}"#)
            #expect(abs((uncounted.time["operating"] as? Double ?? 0) - 0.60) < 1e-9, "only the 5 rows returned")
        }
    }

    @Test func injectedFaultsLookLikeThePortalsEdge() async throws {
        try await BitrixTest.withSimulator { simulator, client in
            var settings = FaultSettings()
            settings.errorRate = 1
            simulator.faults.update(settings)
            let failed = try await client.call("crm.deal.get", json: #"{"id":101}"#)
            #expect(failed.status == 500 && failed.error == "INTERNAL_SERVER_ERROR")
            settings = FaultSettings()
            settings.down = true
            simulator.faults.update(settings)
            let down = try await client.call("crm.deal.get", json: #"{"id":101}"#)
            #expect(down.status == 503 && down.error == "OVERLOAD_LIMIT")
            #expect(try await client.get("/_sim/deals").status == 200, "control routes are never faulted")
            let reset = try await client.send(.PUT, "/_sim/faults", json: #"{"rate_limit_rate":1}"#)
            #expect(reset.status == 200)
            #expect(try await client.call("crm.deal.get", json: #"{"id":101}"#).error == "QUERY_LIMIT_EXCEEDED")
            #expect(simulator.stats.faultsInjected == 3)
        }
    }

    @Test func aHangOutlastsTheClientsTimeout() async throws {
        try await BitrixTest.withSimulator { simulator, client in
            var settings = FaultSettings()
            settings.timeoutRate = 1
            settings.hangMillis = 800
            simulator.faults.update(settings)
            var request = HTTPClientRequest(url: client.base + BitrixTest.hook + "/crm.deal.get?id=101")
            request.method = .GET
            await #expect(throws: (any Error).self) {
                _ = try await HTTPClient.shared.execute(request, timeout: .milliseconds(200))
            }
        }
    }

    @Test func aMovedPortalAnswers302ToTheSamePathOnTheNewAddress() async throws {
        try await BitrixTest.withSimulator { simulator, client in
            _ = try await client.send(.PUT, "/_sim/faults", json: #"{"moved_to":"https://fitcoach-new.bitrix24.ru/"}"#)
            #expect(simulator.movedTo == "https://fitcoach-new.bitrix24.ru/")
            let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
            var request = HTTPClientRequest(url: client.base + BitrixTest.hook + "/crm.deal.get?id=101")
            request.method = .POST
            request.body = .bytes(ByteBuffer(string: "{}"))
            let response = try await http.execute(request, timeout: .seconds(5))
            _ = try await response.body.collect(upTo: 1 << 16)
            try await http.shutdown()
            #expect(response.status.code == 302)
            #expect(
                response.headers.first(name: "Location")
                    == "https://fitcoach-new.bitrix24.ru" + BitrixTest.hook + "/crm.deal.get?id=101")
            _ = try await client.send(.PUT, "/_sim/faults", json: "{}")
            #expect(try await client.call("crm.deal.get", json: #"{"id":101}"#).status == 200)
            #expect(simulator.stats.redirects == 1)
        }
    }
}
