import HTTPTypes

/// amoCRM's OAuth2 server for one integration: single-use refresh tokens, expiring access tokens,
/// long-lived tokens and a grant the account can revoke.
///
/// Pure state; times are unix seconds of the simulator's clock. Tokens come from ``AmoTokenMint``.
struct AmoOAuth: Sendable {
    /// What `/oauth2/access_token` was asked.
    struct Grant: Sendable, Equatable {
        var clientID: String?
        var clientSecret: String?
        var grantType: String?
        var refreshToken: String?
        var code: String?
        var redirectURI: String?
    }

    struct Issued: Sendable, Equatable {
        var accessToken: String
        var refreshToken: String
        var expiresIn: Int
    }

    enum Denial: Error, Sendable, Equatable {
        /// No such token, an expired one, or one used before.
        case unknown
        case expired
        /// The integration was disabled: every token stops working.
        case revoked
    }

    private struct RefreshRecord {
        var expiresAt: Double
        var used = false
        var accessToken: String?
    }

    let configuration: AmoCRMSimulator.OAuth
    private var accessTokens: [String: Double] = [:]  // token → expiry
    private var refreshTokens: [String: RefreshRecord] = [:]
    private var codes: [String: Double] = [:]  // unused code → expiry
    private var longLived: Set<String>
    private(set) var isRevoked = false
    private(set) var refreshCount = 0

    init(_ configuration: AmoCRMSimulator.OAuth, longLivedTokens: [String], now: Double) {
        self.configuration = configuration
        self.longLived = Set(longLivedTokens)
        let accessTTL = Self.seconds(configuration.accessTokenTTL)
        refreshTokens[configuration.refreshToken] = RefreshRecord(
            expiresAt: now + Self.seconds(configuration.refreshTokenTTL), accessToken: configuration.accessToken)
        if let access = configuration.accessToken { accessTokens[access] = now + accessTTL }
        for code in configuration.authorizationCodes { codes[code] = now + 20 * 60 }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    // MARK: API calls

    /// The user an `Authorization: Bearer` token acts as, or why it is refused (401).
    func authenticate(_ token: String, now: Double) -> Result<Int, Denial> {
        if isRevoked { return .failure(.revoked) }
        if longLived.contains(token) { return .success(configuration.userID) }
        guard let expiry = accessTokens[token] else { return .failure(.unknown) }
        return expiry > now ? .success(configuration.userID) : .failure(.expired)
    }

    // MARK: Token endpoint

    /// Answers `POST /oauth2/access_token`: new tokens, or the problem amoCRM answers with.
    mutating func exchange(_ grant: Grant, now: Double, mint: () -> (access: String, refresh: String)) -> Result<Issued, AmoProblem> {
        guard grant.clientID == configuration.clientID, grant.clientSecret == configuration.clientSecret else {
            return .failure(Self.problem(status: .unauthorized, hint: "Client authentication failed", bodyStatus: 401))
        }
        for (name, value) in [("grant_type", grant.grantType), ("redirect_uri", grant.redirectURI)] where value?.isEmpty ?? true {
            return .failure(Self.problem(status: .badRequest, hint: "Check the `\(name)` parameter", bodyStatus: 400))
        }
        guard grant.redirectURI == configuration.redirectURI else {
            return .failure(Self.problem(status: .badRequest, hint: "Redirect URI mismatch", bodyStatus: 400))
        }
        switch grant.grantType {
        case "refresh_token":
            guard let token = grant.refreshToken, !token.isEmpty else {
                return .failure(Self.problem(status: .badRequest, hint: "Check the `refresh_token` parameter", bodyStatus: 400))
            }
            guard var record = refreshTokens[token] else {
                return .failure(Self.refreshProblem("Cannot decrypt the refresh token"))
            }
            if isRevoked || record.used { return .failure(Self.refreshProblem("Token has been revoked")) }
            if record.expiresAt <= now { return .failure(Self.refreshProblem("Token has expired")) }
            let issued = issue(now: now, mint: mint)
            record.used = true
            if let old = record.accessToken { accessTokens[old] = nil }  // the old access token dies with its refresh
            refreshTokens[token] = record
            refreshCount += 1
            return .success(issued)
        case "authorization_code":
            guard let code = grant.code, let expiry = codes[code] else {
                return .failure(Self.problem(status: .badRequest, hint: "Cannot decrypt the authorization code", bodyStatus: 400))
            }
            codes[code] = nil
            guard expiry > now else {
                return .failure(Self.problem(status: .badRequest, hint: "Authorization code has expired", bodyStatus: 400))
            }
            isRevoked = false  // a fresh installation brings the integration back
            return .success(issue(now: now, mint: mint))
        default:
            return .failure(Self.problem(status: .badRequest, hint: "Unsupported grant type", bodyStatus: 400))
        }
    }

    private mutating func issue(now: Double, mint: () -> (access: String, refresh: String)) -> Issued {
        let (access, refresh) = mint()
        let ttl = Self.seconds(configuration.accessTokenTTL)
        accessTokens[access] = now + ttl
        refreshTokens[refresh] = RefreshRecord(expiresAt: now + Self.seconds(configuration.refreshTokenTTL), accessToken: access)
        return Issued(accessToken: access, refreshToken: refresh, expiresIn: Int(ttl.rounded(.up)))
    }

    // MARK: Account actions

    /// The account disables the integration: every access, refresh and long-lived token stops working.
    mutating func revoke() {
        isRevoked = true
        accessTokens.removeAll()
        longLived.removeAll()
        for token in refreshTokens.keys { refreshTokens[token]?.used = true }
    }

    /// An administrator (re)installs the integration: a code valid 20 minutes, exchanged once.
    mutating func authorize(code: String, now: Double) {
        codes[code] = now + 20 * 60
    }

    // MARK: Problems

    static func problem(status: HTTPResponse.Status, hint: String, bodyStatus: Int) -> AmoProblem {
        AmoProblem(
            status: status, title: "Некорректный запрос", type: "https://developers.amocrm.ru/v3/errors/OAuthProblemJson",
            detail: "В запросе отсутствует ряд параметров или параметры невалидны", hint: hint, bodyStatus: bodyStatus)
    }

    /// A refresh token amoCRM will not accept: HTTP 400, and (as observed in the wild) `"status": 401` in the body.
    static func refreshProblem(_ hint: String) -> AmoProblem {
        problem(status: .badRequest, hint: hint, bodyStatus: 401)
    }
}
