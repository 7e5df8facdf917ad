import DealSyncSimulators
import Foundation
import NIOHTTP1
import Testing

/// `oauth.bitrix.info`: refresh tokens work once, access tokens expire into 401 `expired_token`.
struct Bitrix24OAuthTests {
    static func refreshQuery(_ refreshToken: String, secret: String = Bitrix24Simulator.OAuth().clientSecret) -> String {
        let oauth = Bitrix24Simulator.OAuth()
        return "/oauth/token/?grant_type=refresh_token&client_id=\(oauth.clientID)&client_secret=\(secret)&refresh_token=\(refreshToken)"
    }

    @Test func aRefreshTokenWorksOnceAndTheAnswerCarriesTheNext() async throws {
        try await BitrixTest.withSimulator { simulator, client in
            let first = try await client.get(Self.refreshQuery(BitrixTest.refreshToken))
            #expect(first.status == 200)
            let tokens = first.object
            let access = try #require(tokens.bitrixString("access_token"))
            let next = try #require(tokens.bitrixString("refresh_token"))
            #expect(access.count == 70 && next != BitrixTest.refreshToken)
            #expect(tokens.bitrixInt("expires_in") == 3600)
            #expect(abs((tokens.bitrixInt("expires") ?? 0) - (simulator.now + 3600)) <= 1, "an hour from now")
            #expect(tokens.bitrixString("domain") == "oauth.bitrix.info")
            #expect(tokens.bitrixString("client_endpoint") == "https://fitcoach.bitrix24.ru/rest/")
            #expect(tokens.bitrixString("server_endpoint") == "https://oauth.bitrix.info/rest/")
            #expect(tokens.bitrixString("member_id") == simulator.configuration.memberID)
            #expect(tokens.bitrixInt("user_id") == 1 && tokens.bitrixString("scope") == "crm,user")

            let reused = try await client.get(Self.refreshQuery(BitrixTest.refreshToken))
            #expect(reused.status == 400 && reused.error == "invalid_grant")
            #expect(try await client.app("crm.deal.get", json: #"{"id":101}"#, token: access).status == 200)
            let form =
                "grant_type=refresh_token&client_id=\(Bitrix24Simulator.OAuth().clientID)"
                + "&client_secret=\(Bitrix24Simulator.OAuth().clientSecret)&refresh_token=\(next)"
            let posted = try await client.send(.POST, "/oauth/token/", form: form)
            #expect(posted.status == 200 && posted.object.bitrixString("access_token") != nil)
            #expect(simulator.stats.tokenRefreshes == 2)
        }
    }

    @Test func anExpiredAccessTokenAnswers401ExpiredToken() async throws {
        try await BitrixTest.withSimulator { simulator, client in
            #expect(try await client.app("crm.deal.get", json: #"{"id":101}"#).status == 200)
            simulator.advanceClock(bySeconds: 3601)
            let expired = try await client.app("crm.deal.get", json: #"{"id":101}"#)
            #expect(expired.status == 401)
            #expect(expired.body == #"{"error":"expired_token","error_description":"The access token provided has expired."}"#)
            let refreshed = try await client.get(Self.refreshQuery(BitrixTest.refreshToken))
            let token = try #require(refreshed.object.bitrixString("access_token"))
            #expect(try await client.app("crm.deal.get", json: #"{"id":101}"#, token: token).status == 200)
            // The token also travels in the query string, as `auth=`.
            let inQuery = try await client.get("/rest/crm.deal.get.json?id=101&auth=\(token)")
            #expect(inQuery.status == 200)
        }
    }

    @Test func aShortTTLExpiresInRealTimeToo() async throws {
        var configuration = BitrixTest.configuration()
        configuration.oauth.accessTokenTTL = .seconds(2)  // whole seconds, as at Bitrix24: 1 s could end at once
        try await BitrixTest.withSimulator(configuration) { _, client in
            let refreshed = try await client.get(Self.refreshQuery(BitrixTest.refreshToken))
            let token = try #require(refreshed.object.bitrixString("access_token"))
            #expect(try await client.app("crm.deal.get", json: #"{"id":101}"#, token: token).status == 200)
            try await Task.sleep(for: .milliseconds(3100))
            #expect(try await client.app("crm.deal.get", json: #"{"id":101}"#, token: token).error == "expired_token")
        }
    }

    @Test func wrongClientCredentialsAndRevocationAreRefused() async throws {
        try await BitrixTest.withSimulator { _, client in
            let wrongSecret = try await client.get(Self.refreshQuery(BitrixTest.refreshToken, secret: "guess"))
            #expect(wrongSecret.status == 401 && wrongSecret.error == "invalid_client")
            #expect(try await client.send(.POST, "/_sim/oauth/revoke").status == 204)
            #expect(try await client.app("crm.deal.get", json: #"{"id":101}"#).error == "NO_AUTH_FOUND")
            #expect(try await client.get(Self.refreshQuery(BitrixTest.refreshToken)).error == "invalid_grant")
            #expect(try await client.call("crm.deal.get", json: #"{"id":101}"#).status == 200, "webhooks are not the app's")
        }
    }
}
