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

/// Where OAuth tokens live durably (PostgreSQL in `serve`).
public protocol CredentialStore: Sendable {
    func load(connector: String) async throws -> OAuthTokens?
    /// Commits `tokens` (whose generation is one above the pair they replace); returns only once durable.
    /// Returns false when another process stored a newer pair meanwhile.
    func save(connector: String, tokens: OAuthTokens) async throws -> Bool
}
