import Foundation

/// An OAuth token pair as dealsync stores it.
public struct OAuthTokens: Sendable, Equatable {
    public var accessToken: Secret?
    public var refreshToken: Secret?
    public var accessExpiresAt: Date?
    /// Increases with every stored refresh, so two processes never overwrite a newer pair with an older one.
    public var generation: Int64

    public init(accessToken: Secret?, refreshToken: Secret?, accessExpiresAt: Date?, generation: Int64 = 0) {
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.accessExpiresAt = accessExpiresAt
        self.generation = generation
    }
}

/// Reads and writes one connector's stored pair.
public protocol CredentialAccess: Sendable {
    func load(connector: String) async throws -> OAuthTokens?
    /// Commits `tokens` (whose generation is one above the pair they replace); returns only once durable.
    /// Returns false when another process stored a newer pair meanwhile.
    func save(connector: String, tokens: OAuthTokens) async throws -> Bool
}

/// Where OAuth tokens live durably (PostgreSQL in `serve`), shared by every process of an installation.
public protocol CredentialStore: CredentialAccess {
    /// Runs `refresh` while no other process sharing this store refreshes `connector`'s tokens; `refresh` reads
    /// and saves through the access it is given. A refresh token works once, so a process that spent it and has
    /// not yet committed the new pair must not be overtaken by another spending it again.
    func exclusively<T: Sendable>(
        connector: String, _ refresh: @Sendable (any CredentialAccess) async throws -> T
    ) async throws -> T
}
