import DealSyncCore
import Foundation
import Logging
import NIOHTTP1

extension AmoCRMConnector {
    /// Sends one API request within the rate limit, with the current access token; a 401 refreshes the token
    /// once and the request is sent again.
    func request(_ method: HTTPMethod, _ path: String, body: JSONValue? = nil, lineage: UUID?) async throws -> HTTPResponse {
        var token = try await accessToken()
        for attempt in 0..<2 {
            try await limiter.acquire()
            var headers = [
                ("Authorization", "Bearer \(token.reveal())"), ("Accept", "application/hal+json"),
                ("User-Agent", "dealsync/\(DealSyncVersion.current)"),
            ]
            if body != nil { headers.append(("Content-Type", "application/json")) }
            let response = try await transport.send(
                method, config.baseURL + path, headers: headers, body: body?.data(), timeout: config.delivery.requestTimeout,
                lineage: lineage, secrets: staticSecrets + [token.reveal()])
            guard response.status == 401, attempt == 0, case .oauth(let session, _) = auth else { return response }
            token = try await session.renew(after: token)
        }
        throw ConnectorError(status: 401, "amoCRM refused a freshly refreshed token")
    }

    func accessToken() async throws -> Secret {
        switch auth {
        case .longLived(let token): return token
        case .oauth(let session, _): return try await session.accessToken()
        }
    }

    /// `POST <base>/oauth2/access_token` with the refresh-token grant.
    static func refresh(
        _ refreshToken: Secret, oauth: ConnectorConfig.OAuth, baseURL: String, transport: HTTPTransport,
        timeout: Duration
    ) async throws -> OAuthTokens {
        var body: [String: JSONValue] = [
            "client_id": .string(oauth.clientID), "client_secret": .string(oauth.clientSecret.reveal()),
            "grant_type": .string("refresh_token"), "refresh_token": .string(refreshToken.reveal()),
        ]
        if let redirect = oauth.redirectURI { body["redirect_uri"] = .string(redirect) }
        let url = oauth.tokenURL ?? baseURL + "/oauth2/access_token"
        let response = try await transport.send(
            .POST, url, headers: [("Content-Type", "application/json"), ("Accept", "application/json")],
            body: JSONValue.object(body).data(), timeout: timeout,
            secrets: [oauth.clientSecret.reveal(), refreshToken.reveal()])
        // amoCRM answers a spent, revoked or unknown refresh token with 400 (body status 401) or 401.
        guard response.status == 200 else {
            if [400, 401, 403].contains(response.status) {
                let hint = JSONValue.parse(response.body)?["hint"]?.string ?? "HTTP \(response.status)"
                throw OAuthGrantLost(reason: "amoCRM refused the refresh token (\(hint)); authorise the integration again")
            }
            throw ConnectorError(status: response.status, "POST /oauth2/access_token")
        }
        guard let json = JSONValue.parse(response.body), let access = json["access_token"]?.string else {
            throw ConnectorError(status: 200, "the token endpoint returned no access_token")
        }
        let expires = json["expires_in"]?.int64.map { Date().addingTimeInterval(Double($0)) }
        return OAuthTokens(
            accessToken: Secret(access), refreshToken: json["refresh_token"]?.string.map(Secret.init),
            accessExpiresAt: expires)
    }
}
