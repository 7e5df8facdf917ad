import DealSyncCore
import DealSyncStore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Testing

@testable import DealSyncConnectors

/// Two processes share one credential store (`serve` and a CLI command), and a refresh token works once: a
/// process that spent it and has not yet committed the new pair must not be overtaken by the other spending it
/// again, which the token endpoint would refuse as a lost grant.
@Suite(.timeLimit(.minutes(1))) struct OAuthSessionTests {
    /// A token endpoint whose refresh tokens work once.
    actor TokenEndpoint {
        var valid = "r1"
        var issued = 1
        var refused = 0

        func refresh(_ token: Secret) throws -> OAuthTokens {
            guard token.reveal() == valid else {
                refused += 1
                throw OAuthGrantLost(reason: "the refresh token was spent")
            }
            issued += 1
            valid = "r\(issued)"
            return OAuthTokens(
                accessToken: Secret("a\(issued)"), refreshToken: Secret(valid), accessExpiresAt: Date().addingTimeInterval(3_600))
        }
    }

    /// The pair both processes start from: its access token has expired, so both refresh from it.
    static let expired = OAuthTokens(
        accessToken: Secret("a1"), refreshToken: Secret("r1"), accessExpiresAt: Date(timeIntervalSince1970: 0), generation: 1)

    /// Process one has its answer from the token endpoint and has not committed it when process two needs a
    /// token: two waits, then uses the pair one committed.
    static func twoRefreshAsOne(
        first: any CredentialStore, second: any CredentialStore, secondIsWaiting: @escaping @Sendable () async throws -> Bool
    ) async throws {
        #expect(try await first.save(connector: "tour", tokens: expired))
        let endpoint = TokenEndpoint()
        let (answered, answeredNow) = AsyncStream<Void>.makeStream()
        let (goOn, goOnNow) = AsyncStream<Void>.makeStream()
        let one = OAuthSession(connector: "tour", store: first, initialRefreshToken: nil) { token in
            let fresh = try await endpoint.refresh(token)
            answeredNow.yield()
            for await _ in goOn { break }
            return fresh
        }
        let two = OAuthSession(connector: "tour", store: second, initialRefreshToken: nil) { try await endpoint.refresh($0) }

        let early = Task { try await one.accessToken() }
        for await _ in answered { break }
        let late = Task { try await two.accessToken() }
        try await eventually("the second process waits for the first one's refresh") { try await secondIsWaiting() }
        #expect(await endpoint.issued == 2, "the first process has its answer")
        goOnNow.yield()

        #expect(try await early.value.reveal() == "a2")
        #expect(try await late.value.reveal() == "a2", "the pair the first process committed")
        #expect(await endpoint.issued == 2, "one refresh in all")
        #expect(await endpoint.refused == 0, "the spent refresh token was never sent again")
        #expect(try await second.load(connector: "tour")?.generation == 2)
    }

    @Test func inPostgreSQLASecondProcessWaitsForTheRefreshUnderWay() async throws {
        let url = try await TestPostgres.freshDatabaseURL()
        let logger = TestPostgres.logger
        // One connection per process: waiting for the lock and reading under it need no second one.
        try await Database.withDatabase(url, logger: logger, maximumConnections: 1) { one in
            try await Database.withDatabase(url, logger: logger, maximumConnections: 1) { two in
                try await Database.withDatabase(url, logger: logger, maximumConnections: 1) { observer in
                    try await Self.twoRefreshAsOne(
                        first: DatabaseCredentialStore(database: one, logger: logger),
                        second: DatabaseCredentialStore(database: two, logger: logger)
                    ) {
                        try await Self.advisoryLocks(on: observer, granted: false) == 1
                    }
                    #expect(try await Self.advisoryLocks(on: observer, granted: true) == 0, "the lock was let go")
                }
            }
        }
    }

    @Test func inMemoryASecondSessionWaitsForTheRefreshUnderWay() async throws {
        let store = MemoryCredentialStore()
        try await Self.twoRefreshAsOne(first: store, second: store) { await store.waiters(of: "tour") == 1 }
    }

    /// A refresh that fails (here, the process dies before asking) lets go of the lock, and the next one refreshes.
    @Test func aRefreshThatFailsLetsGoOfTheLock() async throws {
        try await TestPostgres.withDatabase(maximumConnections: 1) { (database: Database) async throws in
            let store = DatabaseCredentialStore(database: database, logger: TestPostgres.logger)
            #expect(try await store.save(connector: "tour", tokens: Self.expired))
            let endpoint = TokenEndpoint()
            let dying = OAuthSession(
                connector: "tour", store: store, initialRefreshToken: nil, refresher: { try await endpoint.refresh($0) },
                checkpoint: { if $0 == "before-refresh" { throw CancellationError() } })
            await #expect(throws: CancellationError.self) { try await dying.accessToken() }
            #expect(await endpoint.issued == 1, "nothing was spent")

            let next = OAuthSession(connector: "tour", store: store, initialRefreshToken: nil) { try await endpoint.refresh($0) }
            #expect(try await next.accessToken().reveal() == "a2")
            #expect(try await Self.advisoryLocks(on: database, granted: true) == 0)
        }
    }

    /// A refresh token spent by a process that refreshed without the lock (an older version sharing the store)
    /// and committed: its pair is used, not taken for a lost grant.
    @Test func aRefreshTokenSpentWithoutTheLockMeansTheNewerPairNotALostGrant() async throws {
        let store = MemoryCredentialStore()
        #expect(try await store.save(connector: "tour", tokens: Self.expired))
        let endpoint = TokenEndpoint()
        let session = OAuthSession(connector: "tour", store: store, initialRefreshToken: nil) { token in
            // The other process refreshes and commits between this one's read and its request.
            let theirs = try await endpoint.refresh(Secret("r1"))
            #expect(
                try await store.save(
                    connector: "tour",
                    tokens: OAuthTokens(
                        accessToken: theirs.accessToken, refreshToken: theirs.refreshToken, accessExpiresAt: theirs.accessExpiresAt,
                        generation: 2)))
            return try await endpoint.refresh(token)
        }
        #expect(try await session.accessToken().reveal() == "a2")
        #expect(await endpoint.refused == 1, "this process's request was refused")
    }

    static func advisoryLocks(on database: Database, granted: Bool) async throws -> Int {
        let rows = try await database.client.query(
            """
            SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND granted = \(granted)
                AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """, logger: TestPostgres.logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }
}
