import DealSyncConnectors
import DealSyncCore
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import NIOHTTP1
import Synchronization
import Testing

/// The credential store `serve` uses (`oauth_tokens`); `committed` runs after each durable save.
struct DatabaseCredentials: CredentialStore {
    let store: DatabaseCredentialStore
    var committed: @Sendable (OAuthTokens) -> Void = { _ in }

    init(_ database: Database, committed: @escaping @Sendable (OAuthTokens) -> Void = { _ in }) {
        store = DatabaseCredentialStore(database: database, logger: TestPostgres.logger)
        self.committed = committed
    }

    func load(connector: String) async throws -> OAuthTokens? { try await store.load(connector: connector) }

    func save(connector: String, tokens new: OAuthTokens) async throws -> Bool {
        try await Committing(access: store, committed: committed).save(connector: connector, tokens: new)
    }

    func exclusively<T: Sendable>(
        connector: String, _ refresh: @Sendable (any CredentialAccess) async throws -> T
    ) async throws -> T {
        try await store.exclusively(connector: connector) { [committed] locked in
            try await refresh(Committing(access: locked, committed: committed))
        }
    }

    /// A pair read and saved through `access`, with `committed` called after each durable save.
    struct Committing: CredentialAccess {
        let access: any CredentialAccess
        let committed: @Sendable (OAuthTokens) -> Void

        func load(connector: String) async throws -> OAuthTokens? { try await access.load(connector: connector) }

        func save(connector: String, tokens new: OAuthTokens) async throws -> Bool {
            let saved = try await access.save(connector: connector, tokens: new)
            if saved { committed(new) }
            return saved
        }
    }
}

/// A process dying at a step of the refresh (the `oauthCheckpoint` hook).
struct SimulatedCrash: Error, CustomStringConvertible {
    var step: String
    var description: String { "simulated crash at \(step)" }

    static func at(_ step: String) -> @Sendable (String) throws -> Void {
        { reached in if reached == step { throw SimulatedCrash(step: step) } }
    }
}

/// Single-use refresh tokens: every refresh is committed before its tokens are used, survives a restart, and a
/// lost grant pauses the connector.
@Suite(.serialized)
struct AmoOAuthTests {
    static let connector = AmoFixture.connectorID

    static func stored(_ database: Database) async throws -> TokenStore.Stored? {
        try await TokenStore(database: database, logger: TestPostgres.logger).load(connector: connector)
    }

    @Test func theFirstCallRefreshesAndCommitsTheNewPairBeforeUsingIt() async throws {
        try await TestPostgres.withDatabase { database in
            try await AmoHarness.run { amo in
                let seenAtCommit = Mutex<[AmoStats]>([])
                let credentials = DatabaseCredentials(database) { _ in seenAtCommit.withLock { $0.append(amo.simulator.stats) } }
                let id = try amo.simulator.createAsSalesperson(userID: AmoFixture.olga, AmoLeadFields(name: "Первая")).id
                let items = try await amo.connector(credentials: credentials).fetch([String(id)], lineage: UUID())
                #expect(items.count == 1)

                let atCommit = try #require(seenAtCommit.withLock { $0 }.first)
                #expect(seenAtCommit.withLock { $0.count } == 1, "one refresh, one commit")
                #expect(atCommit.requestsTotal == 1, "at commit amoCRM had seen the token request only")
                #expect(atCommit.requestsByRoute == ["POST /oauth2/access_token": 1])
                #expect(amo.requests("GET /api/v4/leads") == 1, "the new access token was used after the commit")

                let stored = try #require(try await Self.stored(database))
                #expect(stored.generation == 1)
                let refresh = try #require(stored.refreshToken)
                #expect(refresh != AmoFixture.initialRefreshToken, "the configured token is spent; its successor is stored")
                let access = try #require(stored.accessToken)
                #expect(try await amo.api(.GET, "/api/v4/leads/\(id)", token: access).status == 200, "the stored access token works")
                #expect(amo.simulator.stats.tokenRefreshes == 1)
            }
        }
    }

    /// Callers racing at a cold start (and reading the store while another commits) spend the refresh token once.
    @Test func concurrentFirstCallsRefreshOnce() async throws {
        try await TestPostgres.withDatabase { database in
            try await AmoHarness.run { amo in
                let id = try amo.simulator.createAsSalesperson(userID: AmoFixture.olga, AmoLeadFields(name: "Одна")).id
                let connector = amo.connector(credentials: DatabaseCredentials(database))
                let found = try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<7 { group.addTask { try await connector.fetch([String(id)], lineage: UUID()).count } }
                    return try await group.reduce(0, +)
                }
                #expect(found == 7)
                #expect(amo.simulator.stats.tokenRefreshes == 1, "one refresh token, spent once")
                #expect(amo.requests("POST /oauth2/access_token") == 1)
                #expect(try await Self.stored(database)?.generation == 1)
            }
        }
    }

    @Test func aRejectedAccessTokenIsRefreshedOnceAndTheRequestSentAgain() async throws {
        try await TestPostgres.withDatabase { database in
            try await AmoHarness.run { amo in
                let id = try amo.simulator.createAsSalesperson(userID: AmoFixture.olga, AmoLeadFields(name: "Долгая")).id
                let connector = amo.connector(credentials: DatabaseCredentials(database))
                #expect(try await connector.fetch([String(id)], lineage: UUID()).count == 1)
                amo.simulator.advanceClock(bySeconds: 86_400 + 60)  // amoCRM's 24 h access token has expired
                amo.simulator.advanceLimitClock(by: .seconds(2))

                let items = try await connector.fetch([String(id)], lineage: UUID())
                #expect(items.count == 1)
                #expect(amo.simulator.stats.requestsByStatus["401"] == 1, "one refusal")
                #expect(amo.simulator.stats.tokenRefreshes == 2, "one refresh for it")
                #expect(amo.requests("GET /api/v4/leads") == 3, "the refused request was sent once more")
                let stored = try await Self.stored(database)
                #expect(stored?.generation == 2)
            }
        }
    }

    /// The process dies before asking for new tokens: nothing was spent, and the restart refreshes with the
    /// configured token once.
    @Test func aCrashBeforeTheRefreshSpendsNothing() async throws {
        try await TestPostgres.withDatabase { database in
            try await AmoHarness.run { amo in
                let id = try amo.simulator.createAsSalesperson(userID: AmoFixture.olga, AmoLeadFields(name: "До обмена")).id
                let dying = amo.connector(credentials: DatabaseCredentials(database), checkpoint: SimulatedCrash.at("before-refresh"))
                await #expect(throws: SimulatedCrash.self) { try await dying.fetch([String(id)], lineage: UUID()) }
                #expect(amo.requests("POST /oauth2/access_token") == 0, "it died before the token request")
                #expect(try await Self.stored(database) == nil)

                let restarted = amo.connector(credentials: DatabaseCredentials(database))
                #expect(try await restarted.fetch([String(id)], lineage: UUID()).count == 1)
                #expect(amo.simulator.stats.tokenRefreshes == 1, "the configured token, spent once by the restart")
                #expect(try await Self.stored(database)?.generation == 1)
            }
        }
    }

    /// The process dies after the new pair is committed but before it is used: the restart uses the stored
    /// pair and never sends a spent refresh token.
    @Test func aCrashAfterTheCommitResumesWithTheStoredPair() async throws {
        try await TestPostgres.withDatabase { database in
            try await AmoHarness.run { amo in
                let id = try amo.simulator.createAsSalesperson(userID: AmoFixture.olga, AmoLeadFields(name: "Рестарт")).id
                let dying = amo.connector(credentials: DatabaseCredentials(database), checkpoint: SimulatedCrash.at("after-commit"))
                await #expect(throws: SimulatedCrash.self) { try await dying.fetch([String(id)], lineage: UUID()) }
                #expect(amo.requests("GET /api/v4/leads") == 0, "it died before using the new token")
                let stored = try await Self.stored(database)
                #expect(stored?.generation == 1)

                let restarted = amo.connector(credentials: DatabaseCredentials(database))
                #expect(try await restarted.fetch([String(id)], lineage: UUID()).count == 1)
                #expect(amo.simulator.stats.tokenRefreshes == 1, "the stored access token was used as it was")

                // A day later the stored refresh token is the one that works.
                amo.simulator.advanceClock(bySeconds: 86_400 + 60)
                amo.simulator.advanceLimitClock(by: .seconds(2))
                #expect(try await restarted.fetch([String(id)], lineage: UUID()).count == 1)
                #expect(amo.simulator.stats.tokenRefreshes == 2)
                #expect(amo.requests("POST /oauth2/access_token") == 2, "no refresh was refused: no spent token was ever sent")
                #expect(amo.simulator.stats.requestsByStatus["400"] == nil)
            }
        }
    }

    /// The documented limit of single-use tokens: a crash after amoCRM issued the new pair but before it was
    /// committed loses the grant. The connector then says so and pauses, instead of retrying forever.
    @Test func aCrashBeforeTheCommitLosesTheGrantAndPausesTheConnector() async throws {
        try await TestPostgres.withDatabase { database in
            try await AmoHarness.run { amo in
                let id = try amo.simulator.createAsSalesperson(userID: AmoFixture.olga, AmoLeadFields(name: "Потеря")).id
                let dying = amo.connector(credentials: DatabaseCredentials(database), checkpoint: SimulatedCrash.at("after-refresh"))
                await #expect(throws: SimulatedCrash.self) { try await dying.fetch([String(id)], lineage: UUID()) }
                #expect(amo.simulator.stats.tokenRefreshes == 1, "amoCRM issued a pair nobody kept")
                #expect(try await Self.stored(database) == nil)

                let restarted = amo.connector(credentials: DatabaseCredentials(database))
                for _ in 0..<2 {
                    let outcomes = await restarted.deliver([AmoDeliveryTests.update(id, ["price": .integer(5)])])
                    guard case .paused(.auth, _, let reason) = outcomes[0] else {
                        Issue.record("a lost grant pauses the connector: \(outcomes[0])")
                        return
                    }
                    #expect(reason.contains("authorise the integration again"), "\(reason)")
                }
                await #expect(throws: OAuthGrantLost.self) { try await restarted.poll(from: nil) }
                #expect(amo.simulator.stats.tokenRefreshes == 1, "the spent token was refused, nothing more was issued")
                #expect(amo.simulator.lead(id: id)?.price == 0)
            }
        }
    }

    @Test func aRevokedGrantPausesTheConnectorAndNoTokenLeaks() async throws {
        try await TestPostgres.withDatabase { database in
            try await AmoHarness.run { amo in
                let id = try amo.simulator.createAsSalesperson(userID: AmoFixture.olga, AmoLeadFields(name: "Отзыв")).id
                let connector = amo.connector(credentials: DatabaseCredentials(database))
                var texts: [String] = []
                // A validation failure echoes amoCRM's answer: still no token in it.
                let invalid = await connector.deliver([AmoDeliveryTests.update(id, ["status": .text("7001000:7009999")])])
                #expect(invalid[0].errorClass == .validation)
                texts += invalid.flatMap(\.texts)
                let stored = try #require(try await Self.stored(database))

                amo.simulator.revokeIntegration()
                let outcomes = await connector.deliver([
                    AmoDeliveryTests.update(id, ["price": .integer(5)]),
                    AmoDeliveryTests.create("md-revoked", ["name": .text("x")]),
                ])
                for outcome in outcomes {
                    guard case .paused(.auth, _, _) = outcome else {
                        Issue.record("a revoked grant pauses the connector: \(outcome)")
                        continue
                    }
                }
                texts += outcomes.flatMap(\.texts)
                do {
                    _ = try await connector.poll(from: nil)
                    Issue.record("polling with a revoked grant cannot succeed")
                } catch {
                    #expect(error is OAuthGrantLost)
                    texts += [String(describing: error), "\(error)", String(reflecting: error)]
                }
                do {
                    _ = try await connector.fetch([String(id)], lineage: UUID())
                } catch {
                    texts += [String(describing: error), String(reflecting: error)]
                }
                let secrets = [
                    AmoFixture.initialRefreshToken, AmoFixture.clientSecret, AmoFixture.webhookSecret,
                    try #require(stored.accessToken), try #require(stored.refreshToken),
                ]
                #expect(texts.count >= 5)
                for text in texts {
                    for secret in secrets { #expect(!text.contains(secret), "a token in: \(text)") }
                }
            }
        }
    }
}
