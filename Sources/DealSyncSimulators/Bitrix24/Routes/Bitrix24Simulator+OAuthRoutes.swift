import Hummingbird
import NIOCore
import Synchronization

/// `GET|POST /oauth/token/?grant_type=refresh_token&client_id&client_secret&refresh_token`: stands for
/// `https://oauth.bitrix.info/oauth/token/`. Each refresh token works once; the answer carries the next one.
extension Bitrix24Simulator {
    func addOAuthRoutes(to router: Router<BasicRequestContext>) {
        router.get("/oauth/token") { request, _ in try await self.refreshTokens(request) }
        router.post("/oauth/token") { request, _ in try await self.refreshTokens(request) }
    }

    private func refreshTokens(_ request: Request) async throws -> Response {
        let body = String(buffer: try await request.body.collect(upTo: 1 << 20))
        let params = BitrixParameters.parse(query: request.uri.query, body: body, contentType: request.headers[.contentType])
        guard params.text("grant_type") == "refresh_token" else {
            return BitrixError(.badRequest, "invalid_request", "Unsupported grant_type").rendered
        }
        let now = self.now
        let result = oauth.withLock { state in
            state.refresh(
                clientID: params.text("client_id"), clientSecret: params.text("client_secret"),
                refreshToken: params.text("refresh_token"), now: now)
        }
        switch result {
        case .failure(let error):
            return error.rendered
        case .success(let issued):
            requestStats.withLock { $0.tokenRefreshes += 1 }
            let oauth = configuration.oauth
            return BitrixResponse.json(
                .object([
                    ("access_token", .string(issued.accessToken)), ("expires", .int(issued.expiresAt)),
                    ("expires_in", .int(issued.expiresIn)), ("scope", .string(oauth.scope)), ("domain", .string("oauth.bitrix.info")),
                    ("server_endpoint", .string(BitrixEventForm.Portal.serverEndpoint)), ("status", .string("L")),
                    ("client_endpoint", .string(configuration.resolvedClientEndpoint)), ("member_id", .string(configuration.memberID)),
                    ("user_id", .int(oauth.userID)), ("refresh_token", .string(issued.refreshToken)),
                ]))
        }
    }
}
