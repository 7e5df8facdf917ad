import DealSyncSimulators
import Foundation
import NIOHTTP1
import Testing

/// Many accounts behind one port: each amoCRM account at its subdomain and each Bitrix24 portal at its domain,
/// with its own records, tokens and rate limit; a name nobody has is a 404 that reaches no account.
struct SimulatedAccountsTests {
    static func amo(_ subdomain: String, token: String, limit: Int = 10_000) -> AmoCRMSimulator.Configuration {
        var configuration = Amo.configuration()
        configuration.subdomain = subdomain
        configuration.oauth.accessToken = token
        configuration.requestsPerSecond = limit
        return configuration
    }

    @Test func amoCRMAccountsAreReachedBySubdomainAndKeepTheirOwnState() async throws {
        let accounts = try SimulatedAccounts(amoCRM: [
            Self.amo("tours", token: "token-tours"), Self.amo("fitness", token: "token-fitness", limit: 7),
        ])
        try await accounts.withRunning { url in
            let tours = AmoClient(base: SimulatedAccounts<AmoCRMSimulator>.baseURL(of: "tours", on: url))
            let fitness = AmoClient(base: SimulatedAccounts<AmoCRMSimulator>.baseURL(of: "fitness", on: url))
            let created = try await tours.send(
                .POST, "/api/v4/leads", json: #"[{"name": "Алтай, 2 взрослых", "price": 90000}]"#, token: "token-tours")
            #expect(created.status == 200)
            let toursLeads = try await tours.get("/api/v4/leads?limit=250", token: "token-tours")
            let fitnessLeads = try await fitness.get("/api/v4/leads?limit=250", token: "token-fitness")
            #expect(toursLeads.body.contains("Алтай, 2 взрослых"))
            #expect(!fitnessLeads.body.contains("Алтай"), "one account's lead is not in another's")
            #expect(try await fitness.get("/api/v4/leads?limit=1", token: "token-tours").status == 401, "tokens are per account")

            // Each account has its own limit: the fitness account's 7 per second, whatever the other does.
            accounts["fitness"]!.freezeLimitClock()
            accounts["fitness"]!.advanceLimitClock(by: .seconds(1))  // a fresh window: the calls above are out of it
            var statuses: [Int] = []
            for _ in 0..<8 { statuses.append(try await fitness.get("/api/v4/leads?limit=1", token: "token-fitness").status) }
            #expect(statuses.count == 8)
            #expect(statuses.last == 429 && statuses.dropLast().allSatisfy { $0 == 200 })
            #expect(try await tours.get("/api/v4/leads?limit=1", token: "token-tours").status == 200)
            #expect(accounts["tours"]!.stats.rateLimited == 0)

            let nobody = try await AmoClient(base: url + "/nobody").get("/api/v4/leads", token: "token-tours")
            #expect(nobody.status == 404)
            #expect(nobody.body.contains("no account 'nobody'"))
        }
    }

    @Test func bitrix24PortalsAreReachedByDomain() async throws {
        var first = Bitrix24Simulator.Configuration()
        first.domain = "fitcoach.bitrix24.ru"
        var second = Bitrix24Simulator.Configuration()
        second.domain = "yoga-studio.bitrix24.ru"
        let portals = try SimulatedAccounts(bitrix24: [first, second])
        try await portals.withRunning { url in
            let base = SimulatedAccounts<Bitrix24Simulator>.baseURL(of: "yoga-studio.bitrix24.ru", on: url)
            let control = try await AmoClient(base: base).send(.POST, "/_sim/deals", json: #"{"TITLE": "Абонемент на месяц"}"#, token: nil)
            #expect(control.status == 200 || control.status == 201)
            let yoga = try await AmoClient(base: base).get("/_sim/deals", token: nil)
            let fitcoach = try await AmoClient(base: SimulatedAccounts<Bitrix24Simulator>.baseURL(of: "fitcoach.bitrix24.ru", on: url))
                .get("/_sim/deals", token: nil)
            #expect(yoga.body.contains("Абонемент на месяц"))
            #expect(fitcoach.status == 200 && !fitcoach.body.contains("Абонемент"))
        }
    }

    @Test func twoAccountsWithOneNameAreRefused() {
        #expect(throws: SimulatorError.self) {
            try SimulatedAccounts(amoCRM: [Self.amo("tours", token: "a"), Self.amo("tours", token: "b")])
        }
    }
}
