import Hummingbird
import NIOCore
import Synchronization

/// `POST /oauth2/access_token`: JSON (as the docs show) or a form (as OAuth client libraries send).
extension AmoCRMSimulator {
    func addOAuthRoutes(to router: Router<BasicRequestContext>) {
        router.post("/oauth2/access_token") { request, _ in
            let grant = try await Self.grant(request)
            let now = self.now
            let ttl = Int(AmoOAuth.seconds(self.configuration.oauth.accessTokenTTL).rounded(.up))
            let result = self.oauth.withLock { state in
                state.exchange(grant, now: Double(now)) { self.mint.mint(now: now, ttl: ttl) }
            }
            let issued = try result.get()
            return AmoResponse.json(
                .object([
                    ("token_type", .string("Bearer")), ("expires_in", .int(issued.expiresIn)),
                    ("access_token", .string(issued.accessToken)), ("refresh_token", .string(issued.refreshToken)),
                ]))
        }
    }

    private static func grant(_ request: Request) async throws -> AmoOAuth.Grant {
        let buffer = try await request.body.collect(upTo: 1 << 20)
        let text = String(buffer: buffer)
        let fields: [String: String]
        if let json = try? AmoJSONParser.parse(text), let members = json.members {
            fields = Dictionary(
                members.compactMap { key, value in
                    (value.string ?? value.int.map(String.init)).map { (key, $0) }
                }, uniquingKeysWith: { _, last in last })
        } else {
            fields = Dictionary(
                QueryForm.parse(text).entries.compactMap { entry in entry.value.string.map { (entry.key, $0) } },
                uniquingKeysWith: { _, last in last })
        }
        return AmoOAuth.Grant(
            clientID: fields["client_id"], clientSecret: fields["client_secret"], grantType: fields["grant_type"],
            refreshToken: fields["refresh_token"], code: fields["code"], redirectURI: fields["redirect_uri"])
    }
}
