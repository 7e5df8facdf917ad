import DealSyncSimulators
import Foundation
import NIOHTTP1
import Testing

/// `/oauth2/access_token`: single-use refresh tokens, expiring access tokens, long-lived tokens, revocation.
struct AmoCRMOAuthTests {
    static func refreshBody(_ token: String, _ oauth: AmoCRMSimulator.OAuth) -> String {
        """
        {"client_id":"\(oauth.clientID)","client_secret":"\(oauth.clientSecret)","grant_type":"refresh_token",\
        "refresh_token":"\(token)","redirect_uri":"\(oauth.redirectURI)"}
        """
    }

    @Test func refreshTokensAreSingleUseAndRefreshKillsTheOldAccessToken() async throws {
        let configuration = Amo.configuration()
        try await Amo.withSimulator(configuration) { simulator, client in
            #expect(try await client.get("/api/v4/leads?limit=1").status == 200)

            let reply = try await client.send(
                .POST, "/oauth2/access_token", json: Self.refreshBody(Amo.refreshToken, simulator.configuration.oauth), token: nil)
            #expect(reply.status == 200)
            #expect(reply.object.jsonString("token_type") == "Bearer")
            #expect(reply.object.jsonInt("expires_in") == 86_400)
            let access = try #require(reply.object.jsonString("access_token"))
            let refresh = try #require(reply.object.jsonString("refresh_token"))
            #expect(access.split(separator: ".").count == 3, "a JWT")
            #expect(access.count > 700 && refresh.count > 700, "amoCRM tokens are long")
            #expect(refresh != Amo.refreshToken)

            #expect(try await client.get("/api/v4/leads?limit=1").status == 401, "the old access token died")
            #expect(try await client.get("/api/v4/leads?limit=1", token: access).status == 200)

            let reused = try await client.send(
                .POST, "/oauth2/access_token", json: Self.refreshBody(Amo.refreshToken, simulator.configuration.oauth), token: nil)
            #expect(reused.status == 400)
            #expect(reused.contentType == "application/problem+json")
            #expect(reused.object.jsonString("hint") == "Token has been revoked")
            #expect(reused.object.jsonString("type")?.hasSuffix("OAuthProblemJson") == true)
            #expect(
                reused.object.jsonString("title") != nil && reused.object.jsonString("detail") != nil
                    && reused.object.jsonInt("status") != nil)
            #expect(try await client.get("/api/v4/leads?limit=1", token: access).status == 200, "a failed refresh kills nothing")

            let unknown = try await client.send(
                .POST, "/oauth2/access_token", json: Self.refreshBody("def50200nonsense", simulator.configuration.oauth), token: nil)
            #expect(unknown.status == 400)

            // The new refresh token works once, also as a form (what OAuth client libraries send).
            let form =
                "client_id=\(simulator.configuration.oauth.clientID)&client_secret=\(simulator.configuration.oauth.clientSecret)"
                + "&grant_type=refresh_token&refresh_token=\(refresh)&redirect_uri=\(simulator.configuration.oauth.redirectURI.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)"
            let again = try await client.send(.POST, "/oauth2/access_token", form: form, token: nil)
            #expect(again.status == 200)
            #expect(try await client.get("/api/v4/leads?limit=1", token: access).status == 401)
            #expect(simulator.stats.tokenRefreshes == 2)
        }
    }

    @Test func accessTokensExpireAfterTheirTTL() async throws {
        var configuration = Amo.configuration()
        configuration.oauth.accessTokenTTL = .seconds(3600)
        try await Amo.withSimulator(configuration) { simulator, client in
            #expect(try await client.get("/api/v4/leads?limit=1").status == 200)
            simulator.advanceClock(bySeconds: 3601)
            let expired = try await client.get("/api/v4/leads?limit=1")
            #expect(expired.status == 401)
            #expect(expired.contentType == "application/problem+json")
            #expect(expired.object.jsonString("title") == "Unauthorized")
            #expect(expired.header("X-Request-Id") != nil)
            let refreshed = try await client.send(
                .POST, "/oauth2/access_token", json: Self.refreshBody(Amo.refreshToken, simulator.configuration.oauth), token: nil)
            #expect(refreshed.object.jsonInt("expires_in") == 3600)
            #expect(try await client.get("/api/v4/leads?limit=1", token: refreshed.object.jsonString("access_token")).status == 200)
        }
    }

    @Test func revokingTheGrantStopsEveryTokenUntilReinstalled() async throws {
        var configuration = Amo.configuration()
        configuration.longLivedTokens = ["long-lived-1"]
        try await Amo.withSimulator(configuration) { simulator, client in
            simulator.advanceClock(bySeconds: 200 * 86_400)
            #expect(try await client.get("/api/v4/leads?limit=1", token: "long-lived-1").status == 200, "long-lived tokens do not expire")

            #expect(try await client.send(.POST, "/_sim/oauth/revoke", token: nil).status == 204)
            #expect(try await client.get("/api/v4/leads?limit=1", token: "long-lived-1").status == 401)
            let refresh = try await client.send(
                .POST, "/oauth2/access_token", json: Self.refreshBody(Amo.refreshToken, simulator.configuration.oauth), token: nil)
            #expect(refresh.status == 400)
            #expect(refresh.object.jsonString("hint") == "Token has been revoked")

            let code = try #require(try await client.send(.POST, "/_sim/oauth/authorize", token: nil).object.jsonString("code"))
            let exchange = try await client.send(
                .POST, "/oauth2/access_token",
                json: """
                    {"client_id":"\(simulator.configuration.oauth.clientID)","client_secret":"\(simulator.configuration.oauth.clientSecret)",\
                    "grant_type":"authorization_code","code":"\(code)","redirect_uri":"\(simulator.configuration.oauth.redirectURI)"}
                    """, token: nil)
            #expect(exchange.status == 200)
            #expect(try await client.get("/api/v4/leads?limit=1", token: exchange.object.jsonString("access_token")).status == 200)
            let reused = try await client.send(
                .POST, "/oauth2/access_token",
                json: """
                    {"client_id":"\(simulator.configuration.oauth.clientID)","client_secret":"\(simulator.configuration.oauth.clientSecret)",\
                    "grant_type":"authorization_code","code":"\(code)","redirect_uri":"\(simulator.configuration.oauth.redirectURI)"}
                    """, token: nil)
            #expect(reused.status == 400, "an authorization code is single-use")
        }
    }

    @Test func wrongClientSecretIsRejected() async throws {
        var wrong = Amo.configuration().oauth
        wrong.clientSecret = "wrong"
        let oauth = wrong
        try await Amo.withSimulator { _, client in
            let reply = try await client.send(.POST, "/oauth2/access_token", json: Self.refreshBody(Amo.refreshToken, oauth), token: nil)
            #expect(reply.status == 401)
            #expect(reply.object.jsonString("hint") != nil)
            // The refresh token was not spent by the failed attempt.
            let good = try await client.send(
                .POST, "/oauth2/access_token", json: Self.refreshBody(Amo.refreshToken, Amo.configuration().oauth), token: nil)
            #expect(good.status == 200)
        }
    }
}
