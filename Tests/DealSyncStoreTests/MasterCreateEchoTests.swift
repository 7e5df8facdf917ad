import DealSyncCore
import DealSyncStore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Testing

/// A poll of MasterDeal finds the deal dealsync created for a lead before the create's answer is recorded (the
/// answer is a moment away, or its process was killed with the create in flight). Polled deals do not say who
/// made them: the deal must wait for the answer, not become a second lead in the CRM.
struct MasterCreateEchoTests {
    typealias F = StoreFixtures
    let logger = TestPostgres.logger

    static func polled(_ id: String, title: String) -> Observation {
        var deal = F.deal(id, title: title, at: 1001, version: 1)
        deal.byIntegration = false
        return deal
    }

    /// A lead new to MasterDeal is decided (linked, its deal's create queued), and the relay sends the create:
    /// MasterDeal makes md-1 while the answer is not recorded yet. `body` runs then, with the create claimed.
    static func withCreateInFlight(_ database: Database, _ body: @escaping @Sendable (WriteGroup) async throws -> Void) async throws {
        let logger = TestPostgres.logger
        let inbox = InboxStore(database: database, logger: logger)
        let claims = OutboxClaims(database: database, logger: logger)
        _ = try await inbox.record(F.item([F.lead(title: "Сочи", at: 1000, master: nil)], key: "lead-1"))
        let processor = InboxProcessor(database: database, setup: F.setup, logger: logger)
        #expect(try await F.drain(processor) == [.processed(inboxID: 1, writes: 1, entries: 0)])
        try await claims.whilePresent(worker: "host:101") {
            let create = try #require(
                try await claims.claim(target: "masterdeal", limit: 10, worker: "host:101", lease: .seconds(90)).first)
            #expect(create.delivery.operation == .create)
            try await body(create)
        }
    }

    @Test func aPolledDealMatchingACreateInFlightWaitsForItsAnswerAndIsNeverCreatedAgain() async throws {
        try await TestPostgres.withDatabase { database in
            let inbox = InboxStore(database: database, logger: logger)
            let processor = InboxProcessor(database: database, setup: F.setup, logger: logger)
            let outcomes = DeliveryOutcomes(context: SyncContext(database: database, setup: F.setup, logger: logger))
            try await Self.withCreateInFlight(database) { create in
                // Meanwhile the poll finds md-1, and a deal made in MasterDeal by somebody else.
                _ = try await inbox.record(F.item([Self.polled("md-1", title: "Сочи")], key: "poll-md-1"))
                _ = try await inbox.record(F.item([Self.polled("md-2", title: "Анапа")], key: "poll-md-2"))
                let meanwhile = try await F.drain(processor)
                // (md-1's row may come round again within the drain once its one-second wait is over.)
                #expect(meanwhile.count >= 2)
                #expect(meanwhile.filter { $0 != .deferred(inboxID: 2) } == [.processed(inboxID: 3, writes: 1, entries: 0)])
                #expect(meanwhile.first == .deferred(inboxID: 2))
                #expect(
                    try await F.count("outbox", where: "target = 'tour' AND operation = 'create'", in: database) == 1,
                    "only md-2 becomes a lead")
                #expect(
                    try await F.count("outbox", where: "target = 'tour' AND operation = 'create' AND master_deal_id = 'md-1'", in: database)
                        == 0)

                // The answer is recorded: the link learns md-1, and the waiting poll is decided on it.
                #expect(
                    try await outcomes.delivered(
                        create, recordID: "md-1", landedAt: SourceStamp(seconds: 1001, version: 1),
                        attempt: AttemptRecord(status: 201, errorClass: "delivered", detail: "", worker: "host:101")))
                _ = try await database.client.query("UPDATE inbox SET next_attempt_at = now() WHERE id = 2")
                let after = try await F.drain(processor)
                #expect(after.count == 1)
                guard case .processed(inboxID: 2, _, _)? = after.first else {
                    Issue.record("the polled deal was not decided on its link: \(after)")
                    return
                }
            }
            #expect(try await F.count("outbox", where: "target = 'tour' AND operation = 'create'", in: database) == 1)
            #expect(
                try await F.count("links", where: "connector = 'tour' AND master_deal_id = 'md-1' AND record_id = '9001'", in: database)
                    == 1)
            #expect(try await F.count("links", where: "connector = 'tour' AND master_deal_id = 'md-1'", in: database) == 1)
        }
    }

    /// Onboarding plans its creates from what it read. Resumed while `serve` delivers, a run may find in MasterDeal
    /// the deal of a create dealsync sent whose answer is not recorded yet: that deal is skipped, not made a second
    /// lead, while a deal matching no create in flight is created as planned.
    @Test func onboardingNeverCreatesInTheCRMADealMatchingACreateInFlight() async throws {
        try await TestPostgres.withDatabase { database in
            try await Self.withCreateInFlight(database) { _ in
                let store = OnboardingStore(context: SyncContext(database: database, setup: F.setup, logger: logger))
                let run = try await store.begin(connector: "tour", actor: "support@example.com", readStartedMillis: 1_000_000, plan: [:])
                var step = OnboardingStore.Step()
                step.createInCRM = [Self.polled("md-1", title: "Сочи"), Self.polled("md-2", title: "Анапа")]
                let counts = try await store.apply(step, of: run)
                #expect(counts.createdInCRM == 1 && counts.skipped == 1)
                #expect(try await F.count("outbox", where: "target = 'tour' AND operation = 'create'", in: database) == 1)
                #expect(
                    try await F.count("outbox", where: "target = 'tour' AND operation = 'create' AND master_deal_id = 'md-2'", in: database)
                        == 1, "md-2 matches no create in flight and becomes a lead")
            }
        }
    }
}

/// A deal decided with no link is matched against the creates dealsync sent to MasterDeal and has no answer for
/// yet. During a bulk import the outbox holds thousands of creates not sent yet: those are never read.
struct SentCreatesTests {
    typealias F = StoreFixtures

    @Test func findingTheCreatesSentReadsNoneOfThoseWaitingForTheirFirstTry() async throws {
        try await TestPostgres.withDatabase { database in
            // 3,000 creates waiting for their first try, one in flight, one tried once and due again, one done.
            try await Self.storeCreates(
                3003, status: "CASE g WHEN 3001 THEN 'in_flight' WHEN 3003 THEN 'done' ELSE 'pending' END",
                attempts: "CASE WHEN g > 3000 THEN 1 ELSE 0 END", in: database)

            let names = ["Тур 5", "Тур 3001", "Тур 3002", "Тур 3003"]
            let query = LinkBookRecords.sentCreates(to: "masterdeal", accounts: ["acc-tour"], names: names, anyName: false)
            var found: [Int64] = []
            for try await (link, _, _, _, _) in try await database.client.query(query).decode(
                (Int64, String, String?, String?, String?).self)
            {
                found.append(link)
            }
            #expect(found == [3001, 3002], "the create in flight and the one due again; never one not sent, nor one answered")
            let read = try await F.rowsRead(from: "outbox", by: query, in: database)
            #expect(read >= 2 && read <= 10, "rows of the outbox read: \(read)")
        }
    }

    /// Midway through a bulk import's delivery most creates are done (tried once) or wait for their first try and a
    /// few hundred are in flight. Asked for the condition itself, PostgreSQL estimated it from each column's statistics
    /// (the done creates have been tried, the waiting ones are pending), took a sixth of the outbox for sent creates
    /// and read every open write through `outbox_by_link` instead (147 ms once with 83,000 writes waiting, 15 ms on
    /// average over the benchmark's 100,000-lead drain). Asked for `create_sent`, it knows how few they are.
    @Test func findingTheCreatesSentMidwayThroughABulkImportReadsOnlyThose() async throws {
        try await TestPostgres.withDatabase { database in
            let (done, waiting, inFlight) = (30_000, 30_000, 200)
            let total = done + waiting + inFlight
            _ = try await database.client.query("ALTER TABLE outbox SET (autovacuum_enabled = false)")
            try await Self.storeCreates(
                total, status: "CASE WHEN g <= \(done) THEN 'done' WHEN g <= \(done + waiting) THEN 'pending' ELSE 'in_flight' END",
                attempts: "CASE WHEN g <= \(done) THEN 1 ELSE 0 END", in: database)

            let names = ["Тур 5", "Тур \(done + waiting + 1)"]
            let query = LinkBookRecords.sentCreates(to: "masterdeal", accounts: ["acc-tour"], names: names, anyName: false)
            // As a lane runs it: after the settings its transaction's first statement sets (``KeyedPlanning``).
            let plan = try await F.analyzedPlan(of: query, after: "SELECT \(unescaped: KeyedPlanning.settings)", in: database)
            #expect(plan.first?["Actual Rows"] as? NSNumber == 1, "the create in flight named \(names[1])")
            let indexes = Set(plan.filter { $0["Relation Name"] as? String == "outbox" }.compactMap { $0["Index Name"] as? String })
            #expect(indexes == ["outbox_sent_creates"], "\(indexes)")
            let read = F.rowsRead(from: "outbox", in: plan)
            #expect(read > 0 && read <= 2 * inFlight, "rows of the outbox read to find one of \(inFlight) creates in flight: \(read)")
        }
    }

    /// Creates to MasterDeal of the links 1 to `count` (created with them; account `acc-tour`, the lead `Тур <g>`),
    /// each with the status and attempts the SQL expressions of `g` give, then the outbox analysed.
    static func storeCreates(_ count: Int, status: String, attempts: String, in database: Database) async throws {
        _ = try await database.client.query(
            "INSERT INTO links (id, connector, record_id, state) SELECT g, 'tour', g::text, 'active' FROM generate_series(1, \(count)) AS g"
        )
        _ = try await database.client.query(
            """
            INSERT INTO outbox (target, record_key, link_id, operation, payload, idempotency_key, lineage_id, status, attempts, lane)
            SELECT 'masterdeal', 'link:' || g, g, 'create',
                jsonb_build_object('values', jsonb_build_object(
                    'account_id', jsonb_build_object('text', 'acc-tour'), 'opportunity_name', jsonb_build_object('text', 'Тур ' || g))),
                'create-' || g, gen_random_uuid(), \(unescaped: status), \(unescaped: attempts), 'tour'
            FROM generate_series(1, \(count)) AS g
            """)
        _ = try await database.client.query("ANALYZE outbox")
    }
}
