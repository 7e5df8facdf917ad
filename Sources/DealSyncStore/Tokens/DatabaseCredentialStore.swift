import DealSyncCore
import Logging

/// OAuth tokens in PostgreSQL (`oauth_tokens`), for the connectors: the gateway's, the CLI's when it calls an
/// account, and the connector tests' crash checks, which therefore check the store `serve` uses.
public struct DatabaseCredentialStore: CredentialStore {
    let tokens: TokenStore

    public init(tokens: TokenStore) { self.tokens = tokens }

    public init(database: Database, logger: Logger) { self.tokens = TokenStore(database: database, logger: logger) }

    public func load(connector: String) async throws -> OAuthTokens? {
        try await tokens.load(connector: connector).map(Self.tokens)
    }

    public func save(connector: String, tokens new: OAuthTokens) async throws -> Bool {
        try await tokens.save(connector: connector, Self.stored(new))
    }

    /// Holds the connector's refresh lock in PostgreSQL (``TokenStore/whileRefreshing(connector:_:)``).
    public func exclusively<T: Sendable>(
        connector: String, _ refresh: @Sendable (any CredentialAccess) async throws -> T
    ) async throws -> T {
        try await tokens.whileRefreshing(connector: connector) { try await refresh(Locked(locked: $0)) }
    }

    /// The pair on the connection that holds the refresh lock.
    struct Locked: CredentialAccess {
        let locked: TokenStore.Locked

        func load(connector: String) async throws -> OAuthTokens? {
            try await locked.load(connector: connector).map(DatabaseCredentialStore.tokens)
        }

        func save(connector: String, tokens new: OAuthTokens) async throws -> Bool {
            try await locked.save(connector: connector, DatabaseCredentialStore.stored(new))
        }
    }

    static func tokens(_ stored: TokenStore.Stored) -> OAuthTokens {
        OAuthTokens(
            accessToken: stored.accessToken.map(Secret.init), refreshToken: stored.refreshToken.map(Secret.init),
            accessExpiresAt: stored.accessExpiresAt, generation: stored.generation)
    }

    static func stored(_ tokens: OAuthTokens) -> TokenStore.Stored {
        .init(
            accessToken: tokens.accessToken?.reveal(), refreshToken: tokens.refreshToken?.reveal(),
            accessExpiresAt: tokens.accessExpiresAt, generation: tokens.generation)
    }
}
