import DealSyncCore
import DealSyncGateway
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Testing

/// Onboarding an amoCRM account with five years of leads into a MasterDeal that already holds deals for many of
/// the same customers, through the real gateway and PostgreSQL: the dry run's numbers are what the run then does,
/// ambiguous and out-of-scope records are left alone, nothing is duplicated, and a second run finds it all done.
@Suite(.timeLimit(.minutes(3))) struct OnboardingTests {
    /// The tour mapping with the customer's phone, an open-stages scope and the phone as the matching key.
    static let extraYAML = """
          phone: {master: attributes.phone, crm: custom_fields.900009, direction: crm_to_master, conflict: {priority: crm}, pii: true}
        scope: {stages: [lead, qualified, proposal]}
        matching:
          keys:
            - {fields: [phone], normalise: phone}

        """

    static let layout = OnboardingHistory.Layout(
        account: "acc-tour", openStatuses: [(7_001_001, "lead"), (7_001_002, "qualified"), (7_001_004, "proposal")],
        closedStatus: (143, "lost"), owners: [(6_001_001, "u-olga"), (6_001_002, "u-ivan")], phoneField: 900_009,
        phoneAttribute: "phone", linkField: 900_001)

    static func options() -> SyncSystem.Options {
        var options = SyncSystem.Options()
        options.tourExtraFields = extraYAML
        return options
    }

    static func onboarder(_ system: SyncSystem) throws -> Onboarder {
        try Onboarder(
            configuration: system.configuration, registry: system.gateway.registry,
            store: OnboardingStore(context: system.gateway.sync), connector: "tour")
    }

    static func count(_ system: SyncSystem, _ sql: String) async throws -> Int {
        let rows = try await system.database.client.query(PostgresQuery(unsafeSQL: sql))
        for try await count in rows.decode(Int.self) { return count }
        return -1
    }

    @Test func theDryRunSaysWhatTheRunThenDoes() async throws {
        try await SyncSystem.run(Self.options()) { system in
            let history = OnboardingHistory(leads: 200, layout: Self.layout, seed: 20, now: Int(Date().timeIntervalSince1970) - 3_600)
            let expected = history.expected
            let leads = try system.amo.seedHistory(history.leads)
            try system.masterDeal.seedHistory(history.deals)
            #expect(leads.count == 200 && system.masterDeal.allDeals().count == expected.deals)

            let onboarder = try Self.onboarder(system)
            let reading = try await onboarder.read()
            let (plan, differences) = try await onboarder.plan(reading)
            #expect(plan.read == [.crm: 200, .master: expected.deals])
            #expect(plan.linkedByKey == expected.linkByKey && plan.linkedByLinkField == expected.linkByLinkField)
            #expect(plan.ambiguous.count { $0.side == .crm } == expected.ambiguousCRM)
            #expect(plan.ambiguous.count { $0.side == .master } == expected.ambiguousMaster)
            #expect(plan.outOfScope == [.crm: expected.outOfScopeCRM, .master: expected.outOfScopeMaster])
            #expect(plan.createInMaster.count == expected.createInMaster && plan.createInCRM.count == expected.createInCRM)
            #expect(plan.alreadyLinked == 0 && plan.problems.isEmpty && plan.left.isEmpty)
            let titles = try #require(differences.fields.first { $0.name == "title" })
            #expect(titles.pairs == expected.titlesDiffering)
            #expect(differences.linkFieldWrites == expected.linkByKey, "the pairs found by phone get the deal's id written back")
            #expect(reading.calls[.crm] == 1, "200 leads are one page of 250")
            // A dry run writes nothing.
            #expect(try await Self.count(system, "SELECT count(*) FROM links") == 0)
            #expect(try await Self.count(system, "SELECT count(*) FROM outbox") == 0)

            let (run, done) = try await onboarder.apply(plan, reading: reading, actor: "support@example.com", stepSize: 40)
            #expect(!run.resumed)
            #expect(done.linked == plan.pairs.count && done.createdInMaster == plan.createInMaster.count)
            #expect(done.createdInCRM == plan.createInCRM.count && done.held == plan.holds.count && done.skipped == 0)
            #expect(
                done.writes == (differences.writes[.master] ?? 0) + (differences.writes[.crm] ?? 0) + done.createdInMaster
                    + done.createdInCRM)
            // Each lead created in MasterDeal then gets the new deal's id written into its link field, in the run's lineage.
            try await system.eventually("every write of the run is delivered", timeout: .seconds(60)) {
                let progress = try await onboarder.store.progress(of: run)
                return progress.waiting == 0 && progress.delivered == done.writes + done.createdInMaster
            }

            try await system.eventually("the metrics show the run done and its writes delivered") {
                let text = system.gateway.metrics.exposition()
                return text.contains("dealsync_onboarding_progress_ratio{connector=\"tour\"} 1")
                    && text.contains("dealsync_onboarding_writes_waiting{connector=\"tour\"} 0")
            }

            // Both sides now hold what the plan said, once.
            let deals = system.masterDeal.allDeals()
            #expect(deals.count == expected.deals + expected.createInMaster)
            let live = system.amo.allLeads(includingDeleted: false)
            #expect(live.count == 200 + expected.createInCRM)
            let linkValues = live.compactMap { $0.values(ofField: 900_001)?.first }
            #expect(Set(linkValues).count == linkValues.count, "no deal is named by two leads")
            #expect(linkValues.count == expected.linkByKey + expected.linkByLinkField + expected.createInMaster + expected.createInCRM)
            #expect(
                try await Self.count(system, "SELECT count(*) FROM links WHERE record_id IS NOT NULL AND master_deal_id IS NOT NULL")
                    == plan.pairs.count + plan.createInMaster.count + plan.createInCRM.count)
            // The pairs' differing titles are conflicts in the divergence log, decided by lww (the later record).
            let store = DivergenceStore(database: system.database, logger: TestPostgres.logger)
            let conflicts = try await store.list(.init(kinds: ["conflict"], field: "title", limit: 1_000))
            #expect(conflicts.count == expected.titlesDiffering)
            for conflict in conflicts.prefix(5) {
                #expect(conflict.rule == "lww" && conflict.masterAt != nil && conflict.crmAt != nil && conflict.lineageID == run.id)
                let crmWon = try #require(conflict.crmAt) > (try #require(conflict.masterAt))
                #expect(conflict.winner == (crmWon ? "crm" : "master"))
            }
            // Ambiguous records are left alone, reported once each in the log, and held.
            let ambiguous = try await store.list(.init(kinds: ["unmapped_value"], limit: 1_000)).filter { $0.rule == "matching" }
            #expect(ambiguous.count == expected.ambiguousCRM + expected.ambiguousMaster)
            #expect(try await Self.count(system, "SELECT count(*) FROM sync_holds WHERE kind = 'ambiguous'") == ambiguous.count)
            // Polling goes on from when onboarding read, and the audit log says who onboarded.
            #expect(try await Self.count(system, "SELECT count(*) FROM poll_cursors WHERE connector = 'tour'") == 1)
            let audit = try await AuditStore(database: system.database, logger: TestPostgres.logger).list(action: "onboard")
            #expect(
                audit.count == 1 && audit.first?.actor == "support@example.com" && audit.first?.details["linked"] == String(done.linked))

            // A salesperson edits an ambiguous lead: the pipeline decides it and still creates nothing.
            let held = try #require(plan.ambiguous.first { $0.side == .crm }).recordID
            let edited = try system.amo.editAsSalesperson(
                leadID: Int(held)!, userID: 6_001_001, AmoLeadFields(name: "Тур уточнён"))
            try await system.eventually("the edit of the held lead is decided") {
                try await Self.count(
                    system,
                    "SELECT count(*) FROM inbox WHERE connector = 'tour' AND source = 'webhook' AND status = 'processed' AND position(convert_to('\(edited.id)', 'UTF8') in body) > 0"
                ) > 0
            }
            #expect(system.masterDeal.allDeals().count == deals.count, "a held lead is never created in MasterDeal")

            // A second run finds everything done: nothing to link, create or hold again.
            let again = try await onboarder.plan(try await onboarder.read())
            #expect(again.plan.pairs.isEmpty && again.plan.createInMaster.isEmpty && again.plan.createInCRM.isEmpty)
            #expect(again.plan.alreadyLinked == 200 + expected.createInCRM - expected.ambiguousCRM - expected.outOfScopeCRM)
        }
    }

    @Test func aRunKilledHalfWayAndRunAgainEndsAsAnUninterruptedOne() async throws {
        try await SyncSystem.run(Self.options()) { system in
            let history = OnboardingHistory(leads: 600, layout: Self.layout, seed: 21, now: Int(Date().timeIntervalSince1970) - 3_600)
            let expected = history.expected
            try system.amo.seedHistory(history.leads)
            try system.masterDeal.seedHistory(history.deals)

            // The dry run, as a tool reads it.
            let dry = try await system.cli(["onboard", "--connector", "tour", "--dry-run", "--json"])
            #expect(dry.status == 0, "\(dry.stderr)")
            let plan = try JSONDecoder().decode(OnboardingReport.self, from: Data(dry.stdout.utf8)).plan
            #expect(plan.linkByKey == ["phone": expected.linkByKey] && plan.linkByLinkField == expected.linkByLinkField)
            #expect(plan.createInMaster == expected.createInMaster && plan.createInCRM == expected.createInCRM)
            #expect(plan.ambiguousCRM == expected.ambiguousCRM && plan.outOfScopeCRM == expected.outOfScopeCRM)
            #expect(try await Self.count(system, "SELECT count(*) FROM onboarding_runs") == 0, "a dry run records nothing")

            // The run is killed once a few steps have committed.
            let first = try system.startCLI(["onboard", "--connector", "tour", "--step", "5"])
            try await eventually("a few steps are applied", timeout: .seconds(60), every: .milliseconds(5)) {
                first.stdout.components(separatedBy: "\n").filter { $0.hasPrefix("applied ") }.count >= 3
            }
            first.signal(SIGKILL)
            _ = await first.wait()
            let linkedWhenKilled = try await Self.count(system, "SELECT count(*) FROM links")
            let total = plan.linkByLinkField + expected.linkByKey + plan.createInMaster + plan.createInCRM
            #expect(linkedWhenKilled > 0 && linkedWhenKilled < total, "killed half-way: \(linkedWhenKilled) of \(total) links")
            #expect(try await Self.count(system, "SELECT count(*) FROM onboarding_runs WHERE state = 'applying'") == 1)

            // Run again: it resumes the same run and waits for `serve` to deliver everything.
            let second = try await system.cli(["onboard", "--connector", "tour", "--json", "--wait"])
            #expect(second.status == 0, "\(second.stderr)")
            let report = try JSONDecoder().decode(OnboardingReport.self, from: Data(second.stdout.utf8))
            #expect(report.resumed == true)
            let done = try #require(report.done)
            #expect(done.linked == plan.linkByLinkField + expected.linkByKey, "the pairs of both invocations, each once")
            #expect(done.createdInMaster == plan.createInMaster && done.createdInCRM == plan.createInCRM)
            #expect(try await Self.count(system, "SELECT count(*) FROM onboarding_runs WHERE state = 'applied'") == 1)

            // Nothing duplicated on either side.
            #expect(system.masterDeal.allDeals().count == expected.deals + expected.createInMaster)
            let live = system.amo.allLeads(includingDeleted: false)
            #expect(live.count == expected.leads + expected.createInCRM)
            let linkValues = live.compactMap { $0.values(ofField: 900_001)?.first }
            #expect(Set(linkValues).count == linkValues.count && linkValues.count == total)
            // `--wait` returned when the run's writes were delivered: none went to dead letters, and what their
            // echoes cause settles too.
            let run = try #require(report.run)
            #expect(
                try await Self.count(
                    system, "SELECT count(*) FROM outbox WHERE lineage_id = '\(run)' AND status IN ('pending', 'in_flight', 'dead')") == 0)
            try await system.eventually("nothing waits in the outbox") {
                try await Self.count(system, "SELECT count(*) FROM outbox WHERE status IN ('pending', 'in_flight')") == 0
            }
            #expect(try await Self.count(system, "SELECT count(*) FROM outbox WHERE status = 'dead'") == 0)
        }
    }
}
