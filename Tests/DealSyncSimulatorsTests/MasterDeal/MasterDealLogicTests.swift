import Foundation
import Testing

@testable import DealSyncSimulators

/// The simulator's pure decisions, without sockets: cursors, paging, idempotency, event rules.
struct MasterDealLogicTests {
    typealias Sim = MasterDealSimulator

    func deal(_ id: String, at millis: Int64, stage: String = "lead", owner: String? = nil) -> Sim.Deal {
        Sim.Deal(
            id: id, accountID: "a", opportunityName: "n", stage: stage, ownerID: owner,
            createdAt: millis, updatedAt: millis)
    }

    @Test func cursorsRoundTripAndRejectForeignTokens() {
        let cursor = Sim.PageCursor(updatedAt: 1_795_428_000_123, id: "md-|odd/id+")
        #expect(Sim.PageCursor(token: cursor.token) == cursor)
        #expect(!cursor.token.contains("="))
        for token in [
            "", "abc", Data("c2|1|x".utf8).base64EncodedString(), Data("c1|x|y".utf8).base64EncodedString(),
            Data("c1|1|".utf8).base64EncodedString(),
        ] {
            #expect(Sim.PageCursor(token: token) == nil, "\(token)")
        }
    }

    @Test(arguments: [1, 2, 3, 7, 100])
    func pagingVisitsEveryDealOnceWhateverTheLimit(limit: Int) {
        let deals = (0..<30).map { deal(String(format: "md-%08x", 30 - $0), at: 1000 + Int64($0 % 3)) }
        var seen: [String] = []
        var start = Sim.PageStart.updatedSince(1000)
        for _ in 0..<100 {  // bounded: a cursor that does not advance must fail, not hang
            let page = Sim.page(of: deals, from: start, limit: limit)
            #expect(page.items.count <= limit)
            seen += page.items.map(\.id)
            guard let next = page.next, let cursor = Sim.PageCursor(token: next) else { break }
            start = .after(cursor)
        }
        #expect(seen.count == 30)
        #expect(Set(seen).count == 30)
        #expect(seen == deals.sorted { ($0.updatedAt, $0.id) < ($1.updatedAt, $1.id) }.map(\.id))
    }

    @Test func idempotencyDecisions() {
        var store = Sim.IdempotencyStore(retention: .seconds(10))
        let body = Data(#"{"a":1,"b":[true,null]}"#.utf8)
        let same = Data(#"{ "b": [true, null], "a": 1.0 }"#.utf8)
        let fingerprint = Sim.IdempotencyStore.Fingerprint(method: "PATCH", path: "/v1/deals/x", body: body)
        let ok = Sim.StoredResponse(status: 200, headers: [:], body: Data("{}".utf8))
        #expect(store.decide(client: "c", key: "k", fingerprint: fingerprint, now: 0) == .proceed)
        store.remember(client: "c", key: "k", fingerprint: fingerprint, response: ok, now: 0)
        let replay = Sim.IdempotencyStore.Fingerprint(method: "PATCH", path: "/v1/deals/x", body: same)
        #expect(store.decide(client: "c", key: "k", fingerprint: replay, now: 9_999) == .replay(ok))
        let otherPath = Sim.IdempotencyStore.Fingerprint(method: "PATCH", path: "/v1/deals/y", body: body)
        #expect(store.decide(client: "c", key: "k", fingerprint: otherPath, now: 1) == .reuse)
        let otherMethod = Sim.IdempotencyStore.Fingerprint(method: "POST", path: "/v1/deals/x", body: body)
        #expect(store.decide(client: "c", key: "k", fingerprint: otherMethod, now: 1) == .reuse)
        #expect(store.decide(client: "other", key: "k", fingerprint: otherPath, now: 1) == .proceed)
        #expect(store.decide(client: "c", key: "k", fingerprint: otherPath, now: 10_000) == .proceed)
        // Failures are not remembered.
        let failed = Sim.StoredResponse(status: 412, headers: [:], body: Data())
        store.remember(client: "c", key: "f", fingerprint: fingerprint, response: failed, now: 0)
        #expect(store.decide(client: "c", key: "f", fingerprint: otherPath, now: 1) == .proceed)
    }

    @Test func eventRules() {
        var configuration = Sim.Configuration()
        configuration.transitions = ["lead": ["won", "lost"]]
        let rules = Sim.DealRules(configuration)
        let before = deal("md-1", at: 1, owner: "u-a")
        #expect(rules.events(before: nil, after: before, source: "s").map(\.type) == [.dealCreated])
        var won = before
        won.stage = "won"
        won.ownerID = nil
        #expect(rules.events(before: before, after: won, source: "s").map(\.type) == [.stageChanged, .dealClosedWon, .ownerChanged])
        var lost = before
        lost.stage = "lost"
        #expect(rules.events(before: before, after: lost, source: "s").map(\.type) == [.stageChanged, .dealClosedLost])
        var renamed = before
        renamed.opportunityName = "other"
        renamed.attributes = ["x": 1]
        #expect(rules.events(before: before, after: renamed, source: "s").isEmpty)
        #expect(throws: Sim.Problem.self) { try rules.checkTransition(from: "won", to: "lead") }
        #expect(throws: Never.self) { try rules.checkTransition(from: "lead", to: "lost") }
        #expect(throws: Never.self) { try rules.checkTransition(from: "closed", to: "closed") }
    }

    @Test func wireTimesAlwaysCarryMilliseconds() {
        #expect(Sim.WireTime.format(1_795_428_000_000) == "2026-11-23T10:00:00.000Z")
        #expect(Sim.WireTime.format(1_795_428_000_123) == "2026-11-23T10:00:00.123Z")
        #expect(Sim.WireTime.format(-1) == "1969-12-31T23:59:59.999Z")
    }
}
