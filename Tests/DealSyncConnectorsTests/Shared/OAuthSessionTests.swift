import DealSyncCore
import Foundation
import Testing

@testable import DealSyncConnectors

/// Two processes share one credential store (`serve` and a CLI command): one may read the pair and, before it
/// refreshes, the other refreshes with the same single-use refresh token.
@Suite(.timeLimit(.minutes(1))) struct OAuthSessionTests {
    /// A token endpoint whose refresh tokens work once.
    actor TokenEndpoint {
        var valid = "r1"
        var issued = 1

        func refresh(_ token: Secret) throws -> OAuthTokens {
            guard token.reveal() == valid else { throw OAuthGrantLost(reason: "the refresh token was spent") }
            issued += 1
            valid = "r\(issued)"
            return OAuthTokens(
                accessToken: Secret("a\(issued)"), refreshToken: Secret(valid), accessExpiresAt: Date().addingTimeInterval(3_600))
        }
    }

    @Test func aRefreshTokenSpentByAnotherProcessMeansItsNewPairNotALostGrant() async throws {
        let store = MemoryCredentialStore()
        // An expired access token: both sessions refresh from this pair.
        #expect(
            try await store.save(
                connector: "tour",
                tokens: OAuthTokens(
                    accessToken: Secret("a1"), refreshToken: Secret("r1"), accessExpiresAt: Date(timeIntervalSince1970: 0),
                    generation: 1)))
        let endpoint = TokenEndpoint()
        let (reading, readingDone) = AsyncStream<Void>.makeStream()
        let (goOn, goOnNow) = AsyncStream<Void>.makeStream()
        // The CLI's session has read the pair and is about to refresh when `serve`'s refreshes first.
        let cli = OAuthSession(connector: "tour", store: store, initialRefreshToken: nil) { token in
            readingDone.yield()
            for await _ in goOn { break }
            return try await endpoint.refresh(token)
        }
        let serve = OAuthSession(connector: "tour", store: store, initialRefreshToken: nil) { try await endpoint.refresh($0) }
        let late = Task { try await cli.accessToken() }
        for await _ in reading { break }
        #expect(try await serve.accessToken().reveal() == "a2")
        goOnNow.yield()
        #expect(try await late.value.reveal() == "a2", "the pair serve stored is used")
        #expect(await endpoint.issued == 2, "one refresh in all")
        #expect(try await store.load(connector: "tour")?.generation == 2)
    }
}
