import AsyncHTTPClient
import DealSyncConnectors
import DealSyncCore
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// The portal's OAuth application with its tokens in the store `serve` uses: a single-use refresh token is
/// committed before its successor is used, an expired access token is renewed once, a crash at any step of a
/// refresh is survived or said, a moved portal is followed, and a bucket someone else filled is waited out.
struct Bitrix24ApplicationTests {
    typealias F = BitrixConnectorFixture
    static let connector = "fitness"

    static func stored(_ database: Database) async throws -> TokenStore.Stored? {
        try await TokenStore(database: database, logger: TestPostgres.logger).load(connector: connector)
    }

    static func deal(_ simulator: Bitrix24Simulator, _ title: String) -> Int {
        simulator.createAsSalesperson(userID: 12, fields: ["TITLE": title, "CATEGORY_ID": "2"]).id
    }

    @Test(.timeLimit(.minutes(2)))
    func theFirstCallRefreshesAndCommitsTheNewPairBeforeUsingIt() async throws {
        let simulator = F.simulator { $0.limits = .unlimited }
        try await TestPostgres.withDatabase { database in
            try await simulator.withRunning { url in
                let id = Self.deal(simulator, "Первый звонок")
                let atCommit = Mutex<[BitrixStats]>([])
                let credentials = DatabaseCredentials(database) { _ in atCommit.withLock { $0.append(simulator.stats) } }
                let connector = try F.application(url: url, credentials: credentials)
                #expect(try await connector.fetch([String(id)], lineage: UUID()).count == 1)

                let commits = atCommit.withLock { $0 }
                try #require(commits.count == 1, "one refresh, one commit")
                #expect(commits[0].tokenRefreshes == 1 && commits[0].requestsTotal == 0, "at commit the portal had seen the refresh only")
                #expect(simulator.stats.requestsTotal >= 1, "the new access token was used after the commit")

                let stored = try #require(try await Self.stored(database))
                #expect(stored.generation == 1)
                #expect(
                    stored.refreshToken != nil && stored.refreshToken != Bitrix24Simulator.OAuth().refreshToken,
                    "the configured token is spent")

                // Another process (or a restart) starts from the stored pair: no second refresh.
                let restarted = try F.application(url: url, credentials: DatabaseCredentials(database))
                #expect(try await restarted.fetch([String(id)], lineage: UUID()).count == 1)
                #expect(simulator.stats.tokenRefreshes == 1)
            }
        }
    }

    /// Bitrix24's access token lives an hour: the portal answers `401 expired_token`, the connector refreshes once,
    /// commits the new pair and sends the call again.
    @Test(.timeLimit(.minutes(2)))
    func anExpiredAccessTokenIsRenewedOnceAndTheCallSentAgain() async throws {
        let simulator = F.simulator { $0.limits = .unlimited }
        try await TestPostgres.withDatabase { database in
            try await simulator.withRunning { url in
                let id = Self.deal(simulator, "Долгий")
                let connector = try F.application(url: url, credentials: DatabaseCredentials(database))
                guard case .delivered = await connector.deliver([Bitrix24PortalStateTests.update(id, "до")])[0] else {
                    Issue.record("the application writes with its first token")
                    return
                }
                simulator.advanceClock(bySeconds: 3600 + 60)

                guard case .delivered = await connector.deliver([Bitrix24PortalStateTests.update(id, "после")])[0] else {
                    Issue.record("an expired token is renewed and the write goes through")
                    return
                }
                let stats = simulator.stats
                #expect(stats.requestsByStatus["401"] == 1, "one refusal")
                #expect(stats.tokenRefreshes == 2, "one refresh for it")
                #expect(simulator.deal(id: id)?.title == "после")
                #expect(try await Self.stored(database)?.generation == 2)
            }
        }
    }

    /// A process dies at each step of a refresh. Before the refresh nothing is spent; after the commit the restart
    /// uses the stored pair; between the two (Bitrix24 issued a pair nobody kept) the grant is lost, which the
    /// connector says and pauses on instead of retrying forever.
    @Test(.timeLimit(.minutes(2)), arguments: ["before-refresh", "after-refresh", "after-commit"])
    func aCrashAtEachStepOfARefresh(step: String) async throws {
        let simulator = F.simulator { $0.limits = .unlimited }
        try await TestPostgres.withDatabase { database in
            try await simulator.withRunning { url in
                let id = Self.deal(simulator, "Сбой")
                let dying = try F.application(url: url, credentials: DatabaseCredentials(database), checkpoint: SimulatedCrash.at(step))
                await #expect(throws: SimulatedCrash.self) { try await dying.fetch([String(id)], lineage: UUID()) }
                #expect(simulator.stats.requestsTotal == 0, "it died before any call with a token")
                let restarted = try F.application(url: url, credentials: DatabaseCredentials(database))
                switch step {
                case "before-refresh":
                    #expect(simulator.stats.tokenRefreshes == 0, "nothing was spent")
                    #expect(try await Self.stored(database) == nil)
                    #expect(try await restarted.fetch([String(id)], lineage: UUID()).count == 1)
                    #expect(simulator.stats.tokenRefreshes == 1, "the configured token was spent once, by the restart")
                    #expect(try await Self.stored(database)?.generation == 1)
                case "after-commit":
                    #expect(try await Self.stored(database)?.generation == 1)
                    #expect(try await restarted.fetch([String(id)], lineage: UUID()).count == 1)
                    #expect(simulator.stats.tokenRefreshes == 1, "the restart used the stored pair as it was")
                default:
                    #expect(simulator.stats.tokenRefreshes == 1, "Bitrix24 issued a pair")
                    #expect(try await Self.stored(database) == nil, "that nobody kept")
                    guard case .paused(.auth, _, let reason) = await restarted.deliver([Bitrix24PortalStateTests.update(id, "x")])[0]
                    else {
                        Issue.record("a lost grant pauses the connector; its write is not dead-lettered")
                        return
                    }
                    #expect(reason.contains("authorise"), "\(reason)")
                    #expect(
                        !reason.contains(Bitrix24Simulator.OAuth().clientSecret) && !reason.contains(Bitrix24Simulator.OAuth().refreshToken)
                    )
                    #expect(simulator.stats.tokenRefreshes == 1, "the spent token was refused; nothing more was issued")
                    #expect(simulator.deal(id: id)?.title == "Сбой")
                }
            }
        }
    }

    /// A portal moved to a new address answers 302 at the old one: the connector follows with the same method and
    /// body, and its later calls go straight to the new address. (With a client that follows redirects itself, as
    /// AsyncHTTPClient does by default, the `batch` arrived as a GET without its commands: the fixture's client is
    /// configured as `serve`'s.)
    @Test(.timeLimit(.minutes(2)))
    func aMovedPortalIsFollowedAndLaterCallsGoStraightThere() async throws {
        let simulator = F.simulator { $0.limits = .unlimited }
        try await simulator.withRunning { url in
            let id = Self.deal(simulator, "Переезд")
            let connector = try F.connector(url: url)
            let newAddress = url.replacingOccurrences(of: "127.0.0.1", with: "localhost")
            try #require(newAddress != url, "\(url)")
            simulator.movedTo = newAddress

            let first = await connector.deliver([Bitrix24PortalStateTests.update(id, "первый")])[0]
            guard case .delivered = first else {
                Issue.record("a write reaches the moved portal: \(first)")
                return
            }
            #expect(simulator.stats.redirects == 1, "one redirect")
            #expect(simulator.deal(id: id)?.title == "первый")
            let before = simulator.stats.requestsTotal
            guard case .delivered = await connector.deliver([Bitrix24PortalStateTests.update(id, "второй")])[0] else {
                Issue.record("later writes reach the moved portal")
                return
            }
            #expect(try await connector.fetch([String(id)], lineage: UUID()).count == 1)
            #expect(simulator.stats.redirects == 1, "later calls went to the new address")
            #expect(simulator.stats.requestsTotal > before)
            #expect(simulator.deal(id: id)?.title == "второй")
        }
    }

    /// Another client of the portal filled its request bucket (50 requests, draining 2 a second): the call is
    /// refused with `QUERY_LIMIT_EXCEEDED`, waits a second on the connector's clock and is sent again.
    @Test(.timeLimit(.minutes(2)))
    func aBucketSomeoneElseFilledIsWaitedOutAndTheCallSentAgain() async throws {
        let simulator = F.simulator { $0.limits = Bitrix24Simulator.Limits(bucketCapacity: 50, drainPerSecond: 2) }
        let time = Bitrix24OperatingPaceTests.SimulatedTime(simulator)
        try await simulator.withRunning { url in
            simulator.freezeLimitClock()
            let id = Self.deal(simulator, "Очередь")
            // Another client of the portal (its own inbound webhook) calls until the portal refuses it.
            var request = HTTPClientRequest(url: "\(url)/rest/1/x7k2m9q4w1e8r5t3/crm.deal.get.json?id=\(id)")
            request.method = .POST
            var accepted = 0
            while accepted <= 100, try await HTTPClient.shared.execute(request, timeout: .seconds(10)).status == .ok { accepted += 1 }
            #expect(accepted == 50, "a bucket of 50")
            try #require(simulator.stats.queryLimitExceeded == 1, "the other client filled the bucket")

            let connector = try F.connector(url: url, extra: "rate_limit: {requests_per_second: 1000, burst: 1000}", pacing: time.clock)
            guard case .delivered = await connector.deliver([Bitrix24PortalStateTests.update(id, "дождались")])[0] else {
                Issue.record("a call refused by a full bucket is sent again after a wait")
                return
            }
            // The write takes more than one call and the bucket drains two a second: each refusal is followed by a
            // second's wait on the connector's clock, and nothing is refused for good.
            let refused = simulator.stats.queryLimitExceeded - 1
            #expect(refused >= 1, "the connector's own calls met the full bucket")
            #expect(time.pauses == Array(repeating: 1, count: refused), "a second's wait after each refusal: \(time.pauses)")
            #expect(simulator.deal(id: id)?.title == "дождались")
        }
    }
}
