import DealSyncCore
import Logging

/// OAuth tokens in PostgreSQL (`oauth_tokens`), for the connectors: the gateway's, the CLI's when it calls an
/// account, and the connector tests' crash checks, which therefore check the store `serve` uses.
public struct DatabaseCredentialStore: CredentialStore {
    let tokens: TokenStore

    public init(tokens: TokenStore) { self.tokens = tokens }

    public init(database: Database, logger: Logger) { self.tokens = TokenStore(database: database, logger: logger) }

    public func load(connector: String) async throws -> OAuthTokens? {
        guard let stored = try await tokens.load(connector: connector) else { return nil }
        return OAuthTokens(
            accessToken: stored.accessToken.map(Secret.init), refreshToken: stored.refreshToken.map(Secret.init),
            accessExpiresAt: stored.accessExpiresAt, generation: stored.generation)
    }

    public func save(connector: String, tokens new: OAuthTokens) async throws -> Bool {
        try await tokens.save(
            connector: connector,
            .init(
                accessToken: new.accessToken?.reveal(), refreshToken: new.refreshToken?.reveal(),
                accessExpiresAt: new.accessExpiresAt, generation: new.generation))
    }
}
