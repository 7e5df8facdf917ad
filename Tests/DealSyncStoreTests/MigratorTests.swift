import DealSyncCore
import DealSyncStore
import DealSyncTestSupport
import Foundation
import Logging
import PostgresNIO
import Testing

struct MigratorTests {
    let logger = TestPostgres.logger

    /// Every session runs with JIT off: the relay's claim, estimated dearer as writes wait, was compiled on every
    /// call (1.2 s of a 1.3 s claim with 97,000 writes waiting).
    @Test func sessionsRunWithoutJITCompilation() async throws {
        try await TestPostgres.withDatabase { database in
            // The server's own default is on: the sessions' setting is dealsync's.
            let defaults = try await database.client.query("SELECT boot_val FROM pg_settings WHERE name = 'jit'", logger: logger)
            for try await value in defaults.decode(String.self) { #expect(value == "on") }
            let settings = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        try await database.client.withTransaction(logger: logger) { tx in
                            _ = try await tx.query("SELECT pg_sleep(0.05)", logger: logger)
                            for try await value in try await tx.query("SHOW jit", logger: logger).decode(String.self) { return value }
                            return "?"
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(settings == ["off", "off", "off"])
        }
    }

    /// The queues are vacuumed as queues: a claim reads past every row claimed since the last vacuum.
    @Test func theInboxAndTheOutboxAreVacuumedOftenAndUnthrottled() async throws {
        try await TestPostgres.withDatabase { database in
            let rows = try await database.client.query(
                "SELECT relname, array_to_string(reloptions, ',') FROM pg_class WHERE relname IN ('inbox', 'outbox', 'links') ORDER BY relname",
                logger: logger)
            var options: [String: String] = [:]
            for try await (table, text) in rows.decode((String, String?).self) { options[table] = text ?? "" }
            #expect(options.count == 3, "\(options)")
            for table in ["inbox", "outbox"] {
                let set = Set((options[table] ?? "").split(separator: ",").map(String.init))
                #expect(
                    set.isSuperset(of: [
                        "autovacuum_vacuum_threshold=1000", "autovacuum_vacuum_scale_factor=0.01", "autovacuum_vacuum_cost_delay=0",
                        "autovacuum_analyze_scale_factor=0.02",
                    ]), "\(table): \(set)")
            }
            #expect(options["links"] == "", "only the queues: \(options)")
        }
    }

    @Test func migrateCreatesEveryTableAndIsIdempotent() async throws {
        try await TestPostgres.withDatabase(migrated: false) { database in
            let first = try await Migrator(logger: logger).migrate(database)
            #expect(first.applied == Migration.all.map(\.version))
            #expect(first.currentVersion == Migration.latestVersion)
            let second = try await Migrator(logger: logger).migrate(database)
            #expect(second.applied.isEmpty)
            #expect(second.currentVersion == Migration.latestVersion)

            let rows = try await database.client.query(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename", logger: logger)
            var tables: [String] = []
            for try await name in rows.decode(String.self) { tables.append(name) }
            #expect(
                tables == [
                    "audit_log", "connector_status", "dead_letters", "divergence_log", "inbox", "link_fields", "links",
                    "oauth_tokens", "onboarding_runs", "outbox", "poll_cursors", "schema_migrations", "sync_holds",
                ])
        }
    }

    /// A database made by the first release, with changes waiting in its inbox, is brought up to date and the
    /// waiting work goes on.
    @Test func aDatabaseFromTheFirstReleaseIsUpgradedWithItsWorkWaiting() async throws {
        try await TestPostgres.withDatabase(migrated: false) { database in
            let first = try await Migrator(migrations: [Migration.all[0]], logger: logger).migrate(database)
            #expect(first.currentVersion == 1)
            let inbox = InboxStore(database: database, logger: logger)
            _ = try await inbox.record(StoreFixtures.item([StoreFixtures.deal(title: "Сочи", at: 1000, version: 1)], key: "evt-1"))
            // The first release was fetching another row's records, and had a write waiting.
            let body = try JSONEncoder().encode(FetchRequest(connector: "tour", recordID: "9001"))
            _ = try await inbox.record(InboxItem(connector: "tour", dedupeKey: "refetch:9001", source: .refetch, body: body))
            _ = try await database.client.query(
                "UPDATE inbox SET attempts = 1, next_attempt_at = now() + interval '60 seconds' WHERE id = 2")
            _ = try await database.client.query(
                """
                INSERT INTO outbox (target, record_key, operation, payload, idempotency_key, lineage_id)
                VALUES ('tour', 'record:9000', 'update', '{"values": {"name": {"text": "Анапа"}}}', 'ds1-first-release', gen_random_uuid())
                """)

            let upgrade = try await Migrator(logger: logger).migrate(database)
            let claims = OutboxClaims(database: database, logger: logger)
            try await claims.whilePresent(worker: "host:1") {
                let waiting = try await claims.claim(target: "tour", limit: 10, worker: "host:1", lease: .seconds(90))
                #expect(waiting.map(\.head.idempotencyKey) == ["ds1-first-release"] && waiting.first?.head.claimSequence == 1)
                #expect(waiting.first?.delivery.values["name"] == .text("Анапа"))
            }
            let steps = try await StoreFixtures.drain(InboxProcessor(database: database, setup: StoreFixtures.setup, logger: logger))
            #expect(steps == [.processed(inboxID: 1, writes: 1, entries: 0)], "the first release's fetch keeps its lease: \(steps)")
            #expect(
                try await StoreFixtures.count("inbox", where: "id = 2 AND status = 'pending' AND fetched_by IS NULL", in: database) == 1)
            #expect(try await StoreFixtures.count("outbox", where: "status = 'pending'", in: database) == 1)
            #expect(upgrade.applied == Array(Migration.all.map(\.version).dropFirst()))
            #expect(upgrade.currentVersion == Migration.latestVersion)
            try await claims.whilePresent(worker: "host:1") {
                let claimed = try await claims.claim(target: "tour", limit: 10, worker: "host:1", lease: .seconds(90))
                #expect(claimed.map(\.head.claimSequence) == [1], "the new write is claimed under the new schema")
            }
        }
    }

    /// Field state stored a row per link and field (V1 to V8) is one document per link after V9, every state read
    /// back as it was, a link without any still without; and the document is compressed with LZ4 where the
    /// server has it.
    @Test func fieldStateStoredPerFieldIsReadPerLinkAfterTheUpgrade() async throws {
        try await TestPostgres.withDatabase(migrated: false) { database in
            let before = try await Migrator(migrations: Array(Migration.all.prefix { $0.version <= 8 }), logger: logger).migrate(database)
            #expect(before.currentVersion == 8)
            let title = FieldState(
                decided: .text("Сочи \"люкс\""), decidedBy: .crm, decidedAt: SourceStamp(millis: 1_000),
                master: SideState(known: .text("Сочи"), knownAt: SourceStamp(millis: 900, version: 3)),
                crm: SideState(known: .text("Сочи \"люкс\""), knownAt: SourceStamp(millis: 1_000)))
            var stage = FieldState(decided: .text("won"), decidedBy: .master)
            stage.master.pending = [PendingWrite(value: .text("won"), key: "ds1-k")]
            _ = try await database.client.query(
                """
                INSERT INTO links (id, connector, master_deal_id, record_id) VALUES
                    (1, 'tour', 'md-1', '9001'), (2, 'tour', 'md-2', '9002'), (3, 'tour', 'md-3', NULL)
                """, logger: logger)
            for (link, field, state) in [(1, "title", title), (1, "stage", stage), (2, "stage", stage)] {
                // As the old releases wrote it: `jsonb`, given back in PostgreSQL's own key order and spacing.
                _ = try await database.client.query(
                    "INSERT INTO field_state (link_id, field, state) VALUES (\(Int64(link)), \(field), \(state.jsonText)::jsonb)",
                    logger: logger)
            }

            let upgrade = try await Migrator(logger: logger).migrate(database)
            #expect(upgrade.applied.first == 9 && upgrade.currentVersion == Migration.latestVersion)
            let reader = LinkReader(database: database, logger: logger)
            let states = try await reader.fieldStates(links: [1, 2, 3])
            #expect(states.keys.sorted() == [1, 2])
            #expect(states[1] == ["title": title, "stage": stage])
            #expect(states[2] == ["stage": stage])
            #expect(try await StoreFixtures.count("pg_tables", where: "tablename = 'field_state'", in: database) == 0)

            var lz4 = true
            do {
                _ = try await database.client.query("CREATE TEMP TABLE lz4_probe (t text COMPRESSION lz4)", logger: logger)
            } catch {
                lz4 = false
            }
            let method = try await database.client.query(
                "SELECT attcompression::text FROM pg_attribute WHERE attrelid = 'link_fields'::regclass AND attname = 'states'",
                logger: logger)
            var methods: [String] = []
            for try await compression in method.decode(String.self) { methods.append(compression) }
            #expect(methods == [lz4 ? "l" : ""])
        }
    }

    @Test func accessPathsHaveIndexes() async throws {
        try await TestPostgres.withDatabase { database in
            let rows = try await database.client.query(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'", logger: logger)
            var indexes: [String: String] = [:]
            for try await (name, definition) in rows.decode((String, String).self) { indexes[name] = definition }
            for expected in [
                "outbox_due", "outbox_open", "dead_letters_by_connector", "divergence_by_deal", "divergence_by_time",
                "links_by_master", "links_by_record", "inbox_lane", "outbox_by_link",
            ] {
                #expect(indexes[expected] != nil, "missing index \(expected)")
            }
            // Migration 12: no index a lane's claim could walk through other lanes' rows, and the writes of a link
            // only for statements that name a link.
            #expect(indexes["inbox_pending"] == nil)
            #expect(indexes["outbox_by_link"]?.contains("link_id IS NOT NULL") == true, "\(indexes["outbox_by_link"] ?? "")")
        }
    }

    @Test func twoMigratorsStartingTogetherApplyEachMigrationOnce() async throws {
        let url = try await TestPostgres.freshDatabaseURL(migrated: false)
        let reports = try await withThrowingTaskGroup(of: Migrator.Report.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    try await Database.withDatabase(url, logger: logger, maximumConnections: 2) { database in
                        try await Migrator(logger: logger).migrate(database)
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(reports.flatMap(\.applied).sorted() == Migration.all.map(\.version))
        #expect(reports.allSatisfy { $0.currentVersion == Migration.latestVersion })
        try await Database.withDatabase(url, logger: logger) { database in
            let version = try await Migrator.currentVersion(database, logger: logger)
            #expect(version == Migration.latestVersion)
        }
    }

    @Test func currentVersionIsZeroBeforeTheFirstMigration() async throws {
        try await TestPostgres.withDatabase(migrated: false) { database in
            let version = try await Migrator.currentVersion(database, logger: logger)
            #expect(version == 0)
        }
    }

    @Test func unreachableDatabaseGivesAOneLineErrorWithoutThePassword() async throws {
        let url = try DatabaseURL(parsing: "postgres://sync:hunter2secret@127.0.0.1:1/dealsync")
        await #expect {
            try await Database.checkReachable(url, logger: logger)
        } throws: { error in
            let text = "\(error)"
            return text.contains("127.0.0.1:1") && !text.contains("hunter2secret") && !text.contains("\n")
                && text.hasSuffix(": connection refused")
        }
    }

    @Test func aHostThatDoesNotResolveIsSaidSo() async throws {
        // `.invalid` never resolves (RFC 2606).
        let url = try DatabaseURL(parsing: "postgres://sync:pw@db.dealsync.invalid:5432/dealsync")
        await #expect {
            try await Database.checkReachable(url, logger: logger)
        } throws: { error in
            "\(error)".hasSuffix(": host not found")
        }
    }
}
