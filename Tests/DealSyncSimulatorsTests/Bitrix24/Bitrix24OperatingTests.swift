import DealSyncSimulators
import Foundation
import NIOHTTP1
import Testing

/// Operating time as real portals report it: every answer's `time.operating` (a `batch` reports its own account, its
/// commands theirs in `result_time`), `operating_reset_at`, a cost that grows with the work, writes reaching the limit.
struct Bitrix24OperatingTests {
    /// The standard operating budget (480 s in ten minutes) with the default costs, and a bucket that never refuses;
    /// the limits' clock is frozen by the tests, so only they move the window.
    static func configuration() -> Bitrix24Simulator.Configuration {
        var configuration = BitrixTest.configuration()
        configuration.limits = Bitrix24Simulator.Limits(bucketCapacity: 1_000_000, drainPerSecond: 1_000_000)
        return configuration
    }

    /// The connector's shape of a write: 25 updates, each read back, in one batch.
    static func writeBatch(_ ids: [Int], title: String) -> String {
        let commands = ids.enumerated().flatMap { index, id in
            [#""u\#(index)":"crm.deal.update?id=\#(id)&fields%5BTITLE%5D=\#(title)""#, #""r\#(index)":"crm.deal.get?id=\#(id)""#]
        }
        return #"{"halt":0,"cmd":{\#(commands.joined(separator: ","))}}"#
    }

    @Test func aWriteHeavyRunReachesTheOperatingLimit() async throws {
        try await BitrixTest.withSimulator(Self.configuration()) { simulator, client in
            simulator.freezeLimitClock()
            let ids = (0..<25).map { simulator.createAsSalesperson(userID: 12, fields: ["TITLE": "Deal \($0)", "CATEGORY_ID": "2"]).id }
            // A batch of 25 writes and 25 reads costs 25 × (0.02 + 0.001 + 0.25) + 25 × 0.021 = 7.3 s.
            var operating: [Double] = []
            var refused: WireReply?
            for round in 0..<80 {
                let reply = try await client.call("batch", json: Self.writeBatch(ids, title: "r\(round)"))
                guard reply.status == 200 else {
                    refused = reply
                    break
                }
                operating.append(reply.time["operating"] as? Double ?? -1)
                #expect(reply.time["operating_reset_at"] is Int, "the reset time comes with the account")
                let times = reply.resultObject.bitrixObject("result_time")
                let update = times.bitrixObject("u24")
                #expect(abs((update["operating"] as? Double ?? -1) - 6.775 * Double(round + 1)) < 1e-6, "the update method's own account")
                #expect(update["operating_reset_at"] is Int)
                #expect(abs((times.bitrixObject("r24")["operating"] as? Double ?? -1) - 0.525 * Double(round + 1)) < 1e-6)
            }
            #expect(abs((operating.first ?? 0) - 7.3) < 1e-6, "a batch reports its total at the top: \(operating.first ?? 0)")
            #expect(zip(operating, operating.dropFirst()).allSatisfy { abs($1 - $0 - 7.3) < 1e-6 }, "and it grows with every batch")
            #expect(operating.count == 66, "480 s of budget: the batch that crosses it completes, the next is refused")
            let blocked = try #require(refused)
            #expect(blocked.status == 429 && blocked.error == "OPERATION_TIME_LIMIT")
            #expect(simulator.stats.operationTimeLimited == 1)
            #expect(simulator.deal(id: ids[0])?.title == "r65", "the refused batch wrote nothing")
            #expect(
                try await client.call("crm.deal.update", json: #"{"id":\#(ids[0]),"fields":{"TITLE":"alone"}}"#).status == 200,
                "the update method itself is still under its budget")

            simulator.advanceLimitClock(by: .seconds(600))
            #expect(try await client.call("batch", json: Self.writeBatch(ids, title: "later")).status == 200, "the window has passed")
        }
    }

    @Test func aBatchOfFiftyReadsReportsAboutASecond() async throws {
        try await BitrixTest.withSimulator(Self.configuration()) { simulator, client in
            simulator.freezeLimitClock()
            let commands = (0..<50).map { #""g\#($0)":"crm.deal.get?id=101""# }.joined(separator: ",")
            let reply = try await client.call("batch", json: #"{"cmd":{\#(commands)}}"#)
            let operating = try #require(reply.time["operating"] as? Double)
            #expect(abs(operating - 1.05) < 1e-6)
            #expect(simulator.operatingTime(method: "batch") == operating)
            #expect(abs(simulator.operatingTime(method: "crm.deal.get") - 1.05) < 1e-6)
        }
    }

    @Test func theFaultControlDrivesAMethodToItsLimit() async throws {
        try await BitrixTest.withSimulator(Self.configuration()) { simulator, client in
            simulator.freezeLimitClock()
            let exhausted = try await client.send(.POST, "/_sim/operating/exhaust", json: #"{"method":"crm.deal.update"}"#)
            #expect(exhausted.status == 204)
            #expect(simulator.operatingTime(method: "crm.deal.update") > 480)
            let direct = try await client.call("crm.deal.update", json: #"{"id":101,"fields":{"TITLE":"x"}}"#)
            #expect(direct.status == 429 && direct.error == "OPERATION_TIME_LIMIT")
            #expect(
                try await client.app("crm.deal.update", json: #"{"id":101,"fields":{"TITLE":"x"}}"#).status == 429,
                "the application's account too")
            let batch = try await client.call(
                "batch", json: #"{"cmd":{"u":"crm.deal.update?id=101&fields[TITLE]=y","g":"crm.deal.get?id=101"}}"#)
            #expect(batch.status == 200)
            #expect(batch.resultObject.bitrixObject("result_error").bitrixObject("u").bitrixString("error") == "OPERATION_TIME_LIMIT")
            #expect(batch.resultObject.bitrixObject("result").bitrixObject("g").bitrixString("TITLE") != "y", "the read still runs")
            #expect(simulator.deal(id: 101)?.title != "x" && simulator.deal(id: 101)?.title != "y")
            let accounts = try await client.get("/_sim/operating")
            #expect(accounts.body.contains(#""method":"crm.deal.update""#))
            #expect(try await client.send(.POST, "/_sim/operating/exhaust", json: "{}").status == 400)

            simulator.advanceLimitClock(by: .seconds(600))
            #expect(try await client.call("crm.deal.update", json: #"{"id":101,"fields":{"TITLE":"z"}}"#).status == 200)
        }
    }
}
