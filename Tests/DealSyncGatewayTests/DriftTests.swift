import AsyncHTTPClient
import DealSyncCore
import DealSyncGateway
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import NIOHTTP1
import PostgresNIO
import Synchronization
import Testing

@Suite(.serialized)
struct DriftTests {
    static func options() -> SyncSystem.Options {
        var options = SyncSystem.Options()
        options.polling = false
        options.amoExtraYAML = """
            delivery: {backoff_base: 100ms, backoff_cap: 1s, max_attempts: 50, breaker_cooldown: 1s}
            reconcile: {grace: 1s, recheck: 300ms, sweep_interval: 1s, budget_share: 0.5}
            """
        return options
    }

    func newLead(_ system: SyncSystem, title: String) async throws -> (deal: String, lead: Int) {
        let deal = try system.masterDeal.createAsUser(
            .object([
                "account_id": .string("acc-tour"), "opportunity_name": .string(title), "stage": .string("lead"),
                "owner_id": .string("u-olga"),
            ]))
        try await system.eventually("the lead exists") { system.amo.allLeads(includingDeleted: false).contains { $0.name == title } }
        let lead = system.amo.allLeads(includingDeleted: false).first { $0.name == title }!
        try await system.eventually("everything is delivered") {
            try await OutboxClaims(database: system.database, logger: TestPostgres.logger).depth().allSatisfy { $0.open == 0 }
        }
        return (deal.id, lead.id)
    }

    func drift(_ system: SyncSystem, field: String? = nil) async throws -> [DivergenceRecord] {
        try await DivergenceStore(database: system.database, logger: TestPostgres.logger).list(.init(kinds: ["drift"]))
            .filter { field == nil || $0.field == field }
    }

    @Test func aChangeWhileWebhooksAreOffBecomesDriftAndIsRepairedOrReported() async throws {
        try await SyncSystem.run(Self.options()) { system in
            let (dealID, leadID) = try await newLead(system, title: "Сочи")
            system.amo.pauseWebhooks()
            _ = try system.amo.editAsSalesperson(
                leadID: leadID, userID: 6_001_002,
                AmoLeadFields(name: "Сочи, без вебхука", statusID: 7_001_004, pipelineID: 7_001_000))
            // stage says repair: auto — the reconciler re-decides it by the rule: the salesperson's edit came after
            // dealsync's write, so MasterDeal follows; the drift closes once both sides agree.
            try await system.eventually("stage drift is found and repaired", timeout: .seconds(20)) {
                system.masterDeal.deal(id: dealID)?.stage == "proposal"
            }
            try await system.eventually("the stage drift closes", timeout: .seconds(20)) {
                let entries = try await drift(system, field: "stage")
                return !entries.isEmpty && entries.allSatisfy { !$0.open }
            }
            // title says repair: alert — it stays open and visible in the metrics.
            try await system.eventually("title drift is open", timeout: .seconds(20)) {
                try await drift(system, field: "title").contains { $0.open }
            }
            let open = try #require(try await drift(system, field: "title").first { $0.open })
            #expect(open.masterValue == .text("Сочи") && open.crmValue == .text("Сочи, без вебхука"))
            #expect(open.detail["last_changed"] == "crm")
            #expect(system.masterDeal.deal(id: dealID)?.opportunityName == "Сочи", "alert-only fields are not repaired")
            try await system.eventually("/metrics shows the open drift", timeout: .seconds(10)) {
                let (_, text) = try await HTTPClient.shared.send(.GET, system.gatewayURL + "/metrics")
                return text.contains(#"dealsync_drift_open{connector="tour",field="title"} 1"#)
            }
            // On-call finds it from the CLI, looks at it, dry-runs the repair (nothing changes), then repairs it:
            // the salesperson's later edit wins by lww, MasterDeal follows, the drift closes.
            let listed = try await system.cli(["drift", "list", "--open", "--connector", "tour", "--json"])
            #expect(listed.status == 0, "\(listed.stderr)")
            let entries =
                (try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [String: Any])?["drift"] as? [[String: Any]] ?? []
            #expect(
                entries.contains { ($0["id"] as? Int).map(Int64.init) == open.id && $0["field"] as? String == "title" }, "\(listed.stdout)")
            let shown = try await system.cli(["drift", "show", String(open.id)])
            #expect(
                shown.status == 0 && shown.stdout.contains("Сочи, без вебхука") && shown.stdout.contains("lww"),
                "\(shown.stdout)\(shown.stderr)")
            // The dry run says what it would write (proof it decided) and enqueues nothing: the outbox is as it was.
            let rowsBefore = try await Self.outboxRows(system)
            let dry = try await system.cli(["drift", "repair", String(open.id), "--dry-run"])
            #expect(dry.status == 0 && dry.stdout.contains("would re-decide and write"), "\(dry.stdout)\(dry.stderr)")
            #expect(try await Self.outboxRows(system) == rowsBefore, "a dry run enqueues nothing")
            #expect(system.masterDeal.deal(id: dealID)?.opportunityName == "Сочи", "a dry run changes nothing")
            #expect(try await drift(system, field: "title").contains { $0.open })
            let repaired = try await system.cli(["drift", "repair", String(open.id), "--actor", "oncall-petr"])
            #expect(repaired.status == 0 && repaired.stdout.contains("repair enqueued"), "\(repaired.stdout)\(repaired.stderr)")
            try await system.eventually("MasterDeal takes the CRM's title", timeout: .seconds(20)) {
                system.masterDeal.deal(id: dealID)?.opportunityName == "Сочи, без вебхука"
            }
            try await system.eventually("the title drift closes", timeout: .seconds(20)) {
                try await drift(system, field: "title").allSatisfy { !$0.open }
            }
            #expect(system.amo.allLeads(includingDeleted: true).count == 1)
            let audit = try await system.cli(["dlq", "audit"])
            #expect(audit.stdout.contains("oncall-petr") && audit.stdout.contains("drift.repair"), "the repair is audited: \(audit.stdout)")
        }
    }

    @Test func aChangeNobodyToldDealsyncAboutIsDrift() async throws {
        try await SyncSystem.run(Self.options()) { system in
            let (dealID, _) = try await newLead(system, title: "Эльбрус")
            // MasterDeal sends no event for a title change, and polling is off here: only the reconciler can see it.
            _ = try system.masterDeal.editAsUser(id: dealID, changes: .object(["opportunity_name": .string("Эльбрус, 7 ночей")]))
            try await system.eventually("the title drift is found", timeout: .seconds(20)) {
                try await drift(system, field: "title").contains { $0.open && $0.detail["last_changed"] == "master" }
            }
        }
    }

    @Test func aSweepReadsTheCRMWithinItsShareOfTheRateBudget() async throws {
        // The background reconciler is off, so every CRM read of the leads list below is the sweep's own.
        try await SyncSystem.run(Self.sixtyLeadsOptions(budgetShare: 0.05)) { system in
            try await Self.linkSixtyLeads(system)
            let reconciler = try #require(system.gateway.reconciler(for: "tour"))
            // The sweep reads the leads list once per chunk of 50, each read waiting for its share of the budget:
            // 5% of amoCRM's 7 requests/s is one request per 2.86 s. The first read may go at once, so two reads
            // cannot both have happened before 2.86 s have passed (measured here, not by watching the simulator,
            // which a busy machine would see late).
            let readsBefore = system.amo.stats.requestsByRoute["GET /api/v4/leads", default: 0]
            let started = ContinuousClock.now
            let report = try await reconciler.sweep { _, _ in }
            let took = started.duration(to: .now)
            let reads = system.amo.stats.requestsByRoute["GET /api/v4/leads", default: 0] - readsBefore
            #expect(report.compared == 60)
            #expect(reads == 2, "one CRM read per chunk of 50: \(reads)")
            #expect(took >= .milliseconds(2_850), "two reads within the budget share take at least 2.86 s, took \(took)")
        }
    }

    /// After a bulk import every record is recent: the recheck compares them a chunk at a time, one CRM read per
    /// chunk within the budget, as a sweep does (it read them all in one go: the CRM in one request and every
    /// field state at once).
    @Test func aRecheckOfRecentChangesReadsTheCRMInChunks() async throws {
        try await SyncSystem.run(Self.sixtyLeadsOptions(budgetShare: 0.5)) { system in
            try await Self.linkSixtyLeads(system)
            let reconciler = try #require(system.gateway.reconciler(for: "tour"))
            let readsBefore = system.amo.stats.requestsByRoute["GET /api/v4/leads", default: 0]
            let report = try await reconciler.checkRecent()
            let reads = system.amo.stats.requestsByRoute["GET /api/v4/leads", default: 0] - readsBefore
            #expect(report.compared == 60, "every lead was changed within the recent window")
            #expect(reads == 2, "one CRM read per chunk of 50: \(reads)")
        }
    }

    static func sixtyLeadsOptions(budgetShare: Double) -> SyncSystem.Options {
        var options = SyncSystem.Options()
        options.polling = false
        options.amoExtraYAML = """
            delivery: {backoff_base: 100ms, backoff_cap: 1s}
            reconcile: {enabled: false, budget_share: \(budgetShare)}
            """
        return options
    }

    /// Sixty amoCRM leads, each with its MasterDeal deal and its link field written back, all delivered.
    static func linkSixtyLeads(_ system: SyncSystem) async throws {
        for index in 0..<60 {
            _ = try system.amo.createAsSalesperson(
                userID: 6_001_001,
                AmoLeadFields(
                    name: "Бюджет \(index)", price: 1_000 + index,
                    responsibleUserID: 6_001_001))
        }
        do {
            try await system.eventually("every lead has its deal and link", timeout: .seconds(60)) {
                system.masterDeal.allDeals().count == 60
                    && system.amo.allLeads(includingDeleted: false).allSatisfy { $0.values(ofField: 900_001)?.first?.isEmpty == false }
            }
        } catch {
            let linked = system.amo.allLeads(includingDeleted: false).filter { $0.values(ofField: 900_001)?.first?.isEmpty == false }
                .count
            print("deals \(system.masterDeal.allDeals().count), linked \(linked), amoCRM \(system.amo.stats)")
            throw error
        }
        try await system.eventually("everything is delivered") { try await DeliveryFaultTests.openOutbox(system) == 0 }
    }

    /// The grace is measured on the reconciler's clock: a difference nothing explains is compared, remembered, and
    /// becomes drift only once it has lasted the grace (here 60 s of a manual clock, with no time waited).
    @Test func aDifferenceBecomesDriftOnlyOnceItHasLastedItsGrace() async throws {
        var options = Self.options()
        options.amoExtraYAML = """
            delivery: {backoff_base: 100ms, backoff_cap: 1s, max_attempts: 50, breaker_cooldown: 1s}
            reconcile: {enabled: false}
            """
        try await SyncSystem.run(options) { system in
            let (dealID, leadID) = try await newLead(system, title: "Архыз")
            system.amo.pauseWebhooks()
            _ = try system.amo.editAsSalesperson(leadID: leadID, userID: 6_001_002, AmoLeadFields(name: "Архыз, без вебхука"))
            var settings = try #require(system.gateway.configuration.connector("tour")).reconcile
            settings.grace = .seconds(60)
            let clock = ManualClock()
            let origin = ContinuousClock.now
            let now: @Sendable () -> ContinuousClock.Instant = { origin + clock.now.offset }
            let reconciler = try #require(system.gateway.reconciler(for: "tour", settings: settings, now: now))

            let first = try await reconciler.sweep { _, _ in }
            #expect(first.compared == 1 && first.opened == 0, "seen, not yet drift: \(first)")
            clock.advance(by: .seconds(59))
            let within = try await reconciler.sweep { _, _ in }
            #expect(within.compared == 1 && within.opened == 0, "59 s is within the grace: \(within)")
            #expect(try await drift(system).isEmpty)

            clock.advance(by: .seconds(1))
            let lasted = try await reconciler.sweep { _, _ in }
            #expect(lasted.compared == 1 && lasted.opened == 1, "lasted its grace: \(lasted)")
            let open = try await drift(system, field: "title")
            try #require(open.count == 1)
            #expect(open[0].open && open[0].crmValue == .text("Архыз, без вебхука") && open[0].masterValue == .text("Архыз"))
            #expect(system.masterDeal.deal(id: dealID)?.opportunityName == "Архыз", "title is reported, not repaired")
        }
    }

    @Test func workInFlightIsNeverReportedAsDrift() async throws {
        try await SyncSystem.run(Self.options()) { system in
            let (dealID, _) = try await newLead(system, title: "Домбай")
            // amoCRM answers reads and fails every write: the stage's write to it is retried while the reconciler,
            // reading both sides, sees them differ.
            var writesDown = FaultSettings()
            writesDown.writesDown = true
            system.amo.faults.update(writesDown)
            _ = try system.masterDeal.editAsUser(id: dealID, changes: .object(["stage": .string("qualified")]))
            try await system.eventually("the write to amoCRM has failed once", timeout: .seconds(20)) {
                let rows = try await system.database.client.query(
                    "SELECT count(*)::int8 FROM outbox WHERE target = 'tour' AND status = 'pending' AND attempts > 0")
                for try await count in rows.decode(Int.self) { return count == 1 }
                return false
            }
            // Proof the reconciler looked: records compared six more times (a recheck every 300 ms, so longer than
            // the 1 s grace after which an unexplained difference is drift), the sides differing all along.
            let compared = Self.compared(system)
            try await system.eventually("the reconciler compared the record six more times", timeout: .seconds(30)) {
                Self.compared(system) >= compared + 6
            }
            #expect(system.amo.allLeads(includingDeleted: false).first?.statusID != 7_001_002, "the sides still differ")
            #expect(try await drift(system).isEmpty, "a pending write explains the difference")
            system.amo.faults.update(FaultSettings())
            do {
                try await system.eventually("the write lands", timeout: .seconds(20)) {
                    system.amo.allLeads(includingDeleted: false).first?.statusID == 7_001_002
                }
            } catch {
                print(try await system.dump())
                throw error
            }
            let landed = Self.compared(system)
            try await system.eventually("the reconciler compared the record again since", timeout: .seconds(30)) {
                Self.compared(system) >= landed + 2
            }
            #expect(try await drift(system).isEmpty)
        }
    }

    /// Every outbox row, whatever its status.
    static func outboxRows(_ system: SyncSystem) async throws -> Int {
        let rows = try await system.database.client.query("SELECT count(*)::int8 FROM outbox")
        for try await count in rows.decode(Int.self) { return count }
        return -1
    }

    /// `dealsync_records_compared_total` for the amoCRM connector.
    static func compared(_ system: SyncSystem) -> Int {
        let line = system.gateway.metrics.exposition().split(separator: "\n").first {
            $0.hasPrefix(#"dealsync_records_compared_total{connector="tour"}"#)
        }
        return line.flatMap { Int(Double($0.split(separator: " ").last ?? "") ?? -1) } ?? 0
    }
}
