import Foundation
import HTTPTypes

/// The portal's OAuth state for its one application: access tokens that expire, refresh tokens used once.
///
/// Pure state; times are unix seconds of the simulator's clock. `oauth.bitrix.info` answers refreshes from it.
struct BitrixOAuth: Sendable {
    struct Issued: Sendable, Equatable {
        var accessToken: String
        var refreshToken: String
        var expiresAt: Int
        var expiresIn: Int
    }

    enum Denial: Error, Sendable, Equatable {
        /// No such token (never issued, or revoked).
        case unknown
        case expired
        /// Issued to the application's former client, before it was installed again.
        case wrongClient
    }

    let configuration: Bitrix24Simulator.OAuth
    /// The client now installed (``reinstall(clientID:clientSecret:)`` replaces the configured one).
    private(set) var clientID: String
    private var clientSecret: String
    /// Access tokens of former clients.
    private var formerTokens: Set<String> = []
    private var accessTokens: [String: Int] = [:]  // token → expiry
    private var refreshTokens: [String: (expiresAt: Int, used: Bool)] = [:]
    private(set) var refreshCount = 0

    init(_ configuration: Bitrix24Simulator.OAuth, now: Int) {
        self.configuration = configuration
        clientID = configuration.clientID
        clientSecret = configuration.clientSecret
        refreshTokens[configuration.refreshToken] = (now + Self.seconds(configuration.refreshTokenTTL), false)
        if let access = configuration.accessToken { accessTokens[access] = now + Self.seconds(configuration.accessTokenTTL) }
    }

    static func seconds(_ duration: Duration) -> Int {
        Int((Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18).rounded(.up))
    }

    /// The user an access token acts as, or why it is refused.
    func authenticate(_ token: String, now: Int) -> Result<Int, Denial> {
        if formerTokens.contains(token) { return .failure(.wrongClient) }
        guard let expiry = accessTokens[token] else { return .failure(.unknown) }
        return expiry > now ? .success(configuration.userID) : .failure(.expired)
    }

    /// `grant_type=refresh_token`: new tokens for an unused, unexpired refresh token of this client. The refresh
    /// token is spent; the old access token lives until it expires.
    mutating func refresh(clientID: String?, clientSecret: String?, refreshToken: String?, now: Int) -> Result<Issued, BitrixError> {
        guard clientID == self.clientID, clientSecret == self.clientSecret else {
            return .failure(BitrixError(.unauthorized, "invalid_client", "Invalid client credentials"))
        }
        guard let token = refreshToken, !token.isEmpty, let record = refreshTokens[token] else {
            return .failure(Self.invalidGrant)
        }
        guard !record.used, record.expiresAt > now else { return .failure(Self.invalidGrant) }
        refreshTokens[token] = (record.expiresAt, true)
        refreshCount += 1
        return .success(issue(now: now))
    }

    /// A fresh token pair (refreshes).
    mutating func issue(now: Int) -> Issued {
        let access = Self.token()
        let refresh = Self.token()
        let ttl = Self.seconds(configuration.accessTokenTTL)
        accessTokens[access] = now + ttl
        refreshTokens[refresh] = (now + Self.seconds(configuration.refreshTokenTTL), false)
        return Issued(accessToken: access, refreshToken: refresh, expiresAt: now + ttl, expiresIn: ttl)
    }

    /// A fresh access token alone, the one an application event carries (events carry no refresh token).
    mutating func issueAccess(now: Int) -> (accessToken: String, expiresAt: Int, expiresIn: Int) {
        let access = Self.token()
        let ttl = Self.seconds(configuration.accessTokenTTL)
        accessTokens[access] = now + ttl
        return (access, now + ttl, ttl)
    }

    /// The application is installed again under a new client: tokens of the former one answer `wrong_client`, its
    /// refresh tokens are spent, and only the new client may refresh (a new authorisation gives it its first token).
    mutating func reinstall(clientID: String, clientSecret: String) {
        formerTokens.formUnion(accessTokens.keys)
        accessTokens.removeAll()
        for token in refreshTokens.keys { refreshTokens[token]?.used = true }
        self.clientID = clientID
        self.clientSecret = clientSecret
    }

    /// The application is uninstalled or its access withdrawn: every token stops working.
    mutating func revoke() {
        accessTokens.removeAll()
        for token in refreshTokens.keys { refreshTokens[token]?.used = true }
    }

    static let invalidGrant = BitrixError(.badRequest, "invalid_grant", "Invalid refresh token")

    /// 70 lowercase hex digits, the length of Bitrix24's tokens.
    static func token() -> String {
        var generator = SystemRandomNumberGenerator()
        return HexText.random(digits: 70, using: &generator)
    }
}
