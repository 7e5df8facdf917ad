import DealSyncStore
import DealSyncTestSupport
import Foundation
import Synchronization
import Testing

/// `dealsync connector status | resume | forget-tokens` against the shipped example configuration and a real
/// database, as on-call runs them from the paused-connector and re-authorisation runbooks.
struct ConnectorCommandTests {
    let root = Repository.root()

    @Test func statusShowsEveryConnectorAndResumeRecordsWhoResumedAPausedOne() async throws {
        let url = try await TestPostgres.freshDatabaseURL()
        try await Database.withDatabase(url, logger: TestPostgres.logger, maximumConnections: 2) { db in
            // What the relay stores when amoCRM blocks the account, and what a removed connector left behind.
            try await ConnectorStatusStore(database: db, logger: TestPostgres.logger)
                .pause("tour-amocrm", reason: "amoCRM blocked the account (HTTP 403); ask amoCRM support to lift it")
            try await ConnectorStatusStore(database: db, logger: TestPostgres.logger).pause("old-crm", reason: "gone")
            // A poll of Bitrix24 that found nothing new still stores its cursor: that is the last poll.
            _ = try await PollStore(database: db, logger: TestPostgres.logger).store([], cursor: "{}", connector: "fitness-bitrix24")
        }
        let status = try await cli(["connector", "status", "--json"], url)
        #expect(status.status == 0, "\(status.stderr)")
        let connectors = try #require(json(status.stdout)["connectors"] as? [[String: Any]])
        let ids = connectors.compactMap { $0["id"] as? String }
        #expect(
            Set(ids.prefix(3)) == ["masterdeal", "tour-amocrm", "fitness-bitrix24"] && ids.last == "old-crm", "configured first: \(ids)")
        let tour = try #require(connectors.first { $0["id"] as? String == "tour-amocrm" })
        #expect(tour["paused"] as? Bool == true && (tour["reason"] as? String)?.contains("blocked the account") == true, "\(tour)")
        #expect(tour["kind"] as? String == "amocrm" && tour["auth"] as? String == "oauth")
        let fitness = try #require(connectors.first { $0["id"] as? String == "fitness-bitrix24" })
        #expect(fitness["paused"] as? Bool == false && fitness["reason"] == nil)
        #expect(fitness["last_poll_at"] is String && tour["last_poll_at"] == nil, "\(fitness) \(tour)")
        let leftover = try #require(
            connectors.first { $0["id"] as? String == "old-crm" }, "a connector no longer configured is still shown")
        #expect(leftover["kind"] == nil && leftover["paused"] as? Bool == true)

        let table = try await cli(["connector", "status"], url)
        let tourLine = try #require(table.stdout.split(separator: "\n").first { $0.hasPrefix("tour-amocrm ") }, "\(table.stdout)")
        #expect(tourLine.contains("paused") && tourLine.contains("none stored") && tourLine.contains("blocked the account"), "\(tourLine)")
        #expect(tourLine.contains(" never "), "never polled: \(tourLine)")
        let fitnessLine = try #require(table.stdout.split(separator: "\n").first { $0.hasPrefix("fitness-bitrix24 ") }, "\(table.stdout)")
        #expect(fitnessLine.contains("s ago"), "\(fitnessLine)")
        #expect(table.stdout.contains("(not configured)"))
        let one = try await cli(["connector", "status", "--connector", "fitness-bitrix24", "--json"], url)
        #expect((try json(one.stdout)["connectors"] as? [[String: Any]])?.count == 1)

        let resumed = try await cli(
            ["connector", "resume", "tour-amocrm", "--reason", "block lifted by amoCRM support", "--actor", "oncall-ivan"], url)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(
            resumed.stdout.contains("resumed tour-amocrm (paused since") && resumed.stdout.contains("blocked the account"),
            "\(resumed.stdout)")
        let again = try await cli(["connector", "resume", "tour-amocrm"], url)
        #expect(again.status == 0 && again.stdout.contains("tour-amocrm is not paused; nothing changed"), "\(again.stdout)\(again.stderr)")
        let unknown = try await cli(["connector", "resume", "tour-amocrn"], url)
        #expect(unknown.status == 3, "\(unknown.stderr)")
        #expect(
            unknown.stderr.contains("no connector 'tour-amocrn'")
                && unknown.stderr.contains("configured: fitness-bitrix24, masterdeal, tour-amocrm"),
            "\(unknown.stderr)")

        try await Database.withDatabase(url, logger: TestPostgres.logger, maximumConnections: 2) { db in
            let states = try await ConnectorStatusStore(database: db, logger: TestPostgres.logger).states()
            #expect(states["tour-amocrm"]?.paused == false)
            #expect(states["old-crm"]?.paused == true, "resuming one connector leaves the others alone")
            let audit = try await AuditStore(database: db, logger: TestPostgres.logger).list(action: "connector.")
            #expect(audit.count == 1, "only the resume that changed something is recorded: \(audit)")
            #expect(audit.first?.actor == "oncall-ivan" && audit.first?.action == "connector.resume")
            #expect(audit.first?.target == "connector:tour-amocrm" && audit.first?.reason == "block lifted by amoCRM support")
            #expect(audit.first?.details["paused_reason"]?.contains("blocked the account") == true)
        }
    }

    @Test func forgetTokensDeletesTheStoredPairRecordsWhoAndNeverPrintsAToken() async throws {
        let url = try await TestPostgres.freshDatabaseURL()
        let access = "access-7f3b2c19e8d4a6"
        let refresh = "def50200-refresh-5c8e1a9b"
        try await Database.withDatabase(url, logger: TestPostgres.logger, maximumConnections: 2) { db in
            let stored = TokenStore.Stored(
                accessToken: access, refreshToken: refresh, accessExpiresAt: Date().addingTimeInterval(3_600), generation: 3)
            let saved = try await TokenStore(database: db, logger: TestPostgres.logger).save(connector: "tour-amocrm", stored)
            #expect(saved)
        }
        let status = try await cli(["connector", "status", "--connector", "tour-amocrm", "--json"], url)
        let tour = try #require((try json(status.stdout)["connectors"] as? [[String: Any]])?.first)
        let tokens = try #require(tour["oauth_tokens"] as? [String: Any], "\(tour)")
        #expect(tokens["generation"] as? Int == 3 && tokens["has_refresh_token"] as? Bool == true)
        let table = try await cli(["connector", "status"], url)
        #expect(table.stdout.contains("generation 3, access valid"), "\(table.stdout)")

        let notOAuth = try await cli(["connector", "forget-tokens", "masterdeal", "--reason", "x"], url)
        #expect(notOAuth.status == 1 && notOAuth.stderr.contains("masterdeal does not use OAuth (bearer)"), "\(notOAuth.stderr)")
        let unknown = try await cli(["connector", "forget-tokens", "tour", "--reason", "x"], url)
        #expect(unknown.status == 3 && unknown.stderr.contains("no connector 'tour'"), "\(unknown.stderr)")

        // While a dealsync serve process is connected (its relays hold their presence), nothing is forgotten: it
        // would store the old pair it holds in memory again.
        let refused = try await Database.withDatabase(url, logger: TestPostgres.logger, maximumConnections: 2) { db in
            let result = Mutex<(status: Int32, stdout: String, stderr: String)?>(nil)
            try await OutboxClaims(database: db, logger: TestPostgres.logger).whilePresent(worker: "host:4242:serve") {
                let output = try await cli(["connector", "forget-tokens", "tour-amocrm", "--reason", "too early"], url)
                result.withLock { $0 = output }
            }
            return try #require(result.withLock { $0 })
        }
        #expect(refused.status == 1 && refused.stderr.contains("a dealsync serve process is still connected"), "\(refused.stderr)")

        let forgot = try await cli(
            ["connector", "forget-tokens", "tour-amocrm", "--reason", "integration re-authorised", "--actor", "admin-olga"], url)
        #expect(forgot.status == 0, "\(forgot.stderr)")
        #expect(
            forgot.stdout.contains("forgot the stored token pair of tour-amocrm (generation 3)")
                && forgot.stdout.contains("start dealsync serve again"),
            "\(forgot.stdout)")
        let twice = try await cli(["connector", "forget-tokens", "tour-amocrm", "--reason", "again"], url)
        #expect(twice.status == 0 && twice.stdout.contains("no stored tokens for tour-amocrm; nothing changed"), "\(twice.stdout)")
        for output in [status, table, notOAuth, unknown, refused, forgot, twice] {
            #expect(
                !(output.stdout + output.stderr).contains(access) && !(output.stdout + output.stderr).contains(refresh),
                "no token is printed")
        }

        try await Database.withDatabase(url, logger: TestPostgres.logger, maximumConnections: 2) { db in
            #expect(try await TokenStore(database: db, logger: TestPostgres.logger).load(connector: "tour-amocrm") == nil)
            let audit = try await AuditStore(database: db, logger: TestPostgres.logger).list(action: "connector.")
            #expect(audit.map(\.action) == ["connector.forget_tokens"], "the refused and empty runs record nothing: \(audit)")
            #expect(
                audit.first?.actor == "admin-olga" && audit.first?.reason == "integration re-authorised"
                    && audit.first?.details["generation"] == "3")
            #expect(!(audit.first?.details.values.contains { $0.contains(access) || $0.contains(refresh) } ?? true))
        }
    }

    /// Without a URL the command uses the cluster kept beside the configuration (`serve`'s embedded default),
    /// starting it for the command when no `serve` runs, and finds it fresh, not broken.
    @Test(.timeLimit(.minutes(2)))
    func withoutADatabaseURLItUsesTheClusterBesideTheConfiguration() async throws {
        let result = try await ChildProgram.run(
            try Repository.dealsyncBinary(), ["connector", "status", "--config", root],
            environment: ["DATABASE_URL": ""])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("tour-amocrm"), "\(result.stdout)")
        #expect(FileManager.default.fileExists(atPath: "\(root)/.dealsync/pgdata/PG_VERSION"), "the cluster was made in the data directory")
    }

    func cli(_ arguments: [String], _ url: DatabaseURL) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await ChildProgram.run(
            try Repository.dealsyncBinary(), arguments + ["--config", root, "--database-url", url.revealedURLString()])
    }

    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text)")
    }
}
