import AsyncHTTPClient
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import NIOHTTP1
import PostgresNIO
import Testing

/// Credentials that arrive inside payloads are checked, then kept out of storage.
@Suite(.serialized)
struct SecretAtRestTests {
    /// Bitrix24 application events carry the portal's `application_token` and a user's OAuth tokens. After
    /// real events went through the gateway (and the deal they name was fetched, decided and written), a dump
    /// of the whole database holds none of them, while it does hold the rest of those events.
    @Test func noBitrix24TokenIsInTheDatabase() async throws {
        let options = SyncSystem.Options(bitrix: { configuration in
            configuration.eventHandlers = configuration.eventHandlers.map { .init(event: $0.event, url: $0.url, kind: .application) }
        })
        try await SyncSystem.run(options) { system in
            _ = system.bitrix.createAsSalesperson(
                userID: 15,
                fields: [
                    "TITLE": "Онлайн-марафон", "STAGE_ID": "C2:NEW", "CATEGORY_ID": "2", "OPPORTUNITY": "9900.00",
                    "CURRENCY_ID": "RUB", "ASSIGNED_BY_ID": "15",
                ])
            try await system.eventually("MasterDeal has the deal") {
                system.masterDeal.allDeals().contains { $0.opportunityName == "Онлайн-марафон" }
            }
            // And one event whose OAuth tokens this test chose, so the dump can be searched for them.
            let (status, answer) = try await HTTPClient.shared.send(
                .POST, system.gatewayURL + "/webhooks/fitness", headers: [IntakeGateway.form], body: IntakeGateway.bitrixBody(id: 777_001))
            #expect(status == 200, "\(answer)")
            var stored = 0
            for try await count in try await system.database.client.query(
                "SELECT count(*) FROM inbox WHERE connector = 'fitness' AND source = 'webhook'"
            ).decode(Int.self) { stored = count }
            #expect(stored >= 2, "the simulator's event and ours were stored")

            let dump = try await Self.dump(system.databaseURL)
            #expect(
                dump.contains("ONCRMDEALADD") && dump.contains("fitcoach.bitrix24.ru") && dump.contains("777001"),
                "the dump shows the stored events")
            for secret in [SyncSystem.applicationToken, "bitrix-access-canary-7f3c", "bitrix-refresh-canary-9d21"] {
                let found = dump.contains(secret) || dump.contains(Self.hex(secret))
                #expect(!found, "\(secret) is in the database")
            }
        }
    }

    /// Every row of every table as `pg_dump` writes it, byte strings as text where they are printable.
    static func dump(_ url: String) async throws -> String {
        // Next to the real pg_ctl: a bin directory of links may hold only the server programs.
        let pgCtl = URL(fileURLWithPath: try PostgresInstallation.find().pgCtl).resolvingSymlinksInPath()
        let pgDump = pgCtl.deletingLastPathComponent().appendingPathComponent("pg_dump").path
        let result = try await ChildProgram.run(
            pgDump, ["--data-only", "--no-owner", "--dbname", url],
            environment: ["PGOPTIONS": "-c bytea_output=escape"])
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdout
    }

    static func hex(_ text: String) -> String { text.utf8.map { String(format: "%02x", $0) }.joined() }
}
