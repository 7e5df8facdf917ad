import DealSyncConnectors
import DealSyncGateway
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import Testing

/// A connector paused for a cause only a person can fix, seen and handled the way on-call does it: from
/// `dealsync connector status` and `resume`, while the gateway runs.
@Suite struct PausedConnectorTests {
    @Test func aBlockedAccountPausesTheConnectorOnCallSeesItAndAProbeResumesItOnceLifted() async throws {
        var options = SyncSystem.Options()
        options.polling = false
        try await SyncSystem.run(options) { system in
            let deal = try system.masterDeal.createAsUser(
                .object([
                    "account_id": .string("acc-tour"), "opportunity_name": .string("Блок"), "stage": .string("lead"),
                    "owner_id": .string("u-olga"),
                ])
            ).id
            try await system.eventually("the lead exists", timeout: .seconds(20)) { DeliveryFaultTests.lead(system, of: deal) != nil }
            try await system.eventually("the outbox is empty") { try await DeliveryFaultTests.openOutbox(system) == 0 }
            let lead = try #require(DeliveryFaultTests.lead(system, of: deal)).id
            #expect(system.gateway.registry.connector("masterdeal")?.limiter.share == 1, "alone, a process uses MasterDeal's whole rate")
            try await DeliveryFaultTests.eventuallyMetric(system, "dealsync_rate_limit_share", #"connector="masterdeal""#, equals: 1)

            system.amo.block()
            try system.masterDeal.editAsUser(id: deal, changes: .object(["stage": .string("qualified")]))
            try await system.eventually("the connector is paused", timeout: .seconds(20)) {
                try await Self.tour(system)?["paused"] as? Bool == true
            }
            let paused = try #require(try await Self.tour(system))
            #expect((paused["reason"] as? String)?.contains("amoCRM blocked the account (HTTP 403)") == true, "\(paused)")
            #expect(paused["outbox_open"] as? Int == 1, "the write waits, it is not dead-lettered: \(paused)")
            #expect(paused["dead_letters_open"] as? Int == 0)
            try await DeliveryFaultTests.eventuallyMetric(system, "dealsync_connector_paused", #"connector="tour""#, equals: 1)
            let firstSince = try #require(paused["paused_since"] as? String)

            // Resumed by hand while amoCRM still blocks the account: the next write pauses it again.
            try await Task.sleep(for: .seconds(1.1))  // `since` has second resolution in the JSON
            let resumed = try await DeliveryFaultTests.cli(
                system, ["connector", "resume", "tour", "--reason", "checking", "--actor", "oncall-ivan"])
            #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
            #expect(resumed.stdout.contains("resumed tour"), "\(resumed.stdout)")
            try await system.eventually("paused again by the next write", timeout: .seconds(20)) {
                guard let tour = try await Self.tour(system), tour["paused"] as? Bool == true else { return false }
                return (tour["paused_since"] as? String).map { $0 > firstSince } ?? false
            }
            #expect(system.amo.lead(id: lead)?.statusID == 7_001_001, "nothing reached the blocked account")

            // amoCRM lifts the block: the next probe delivers the waiting write and resumes the connector.
            system.amo.unblock()
            try await system.eventually("the write lands", timeout: .seconds(20)) { system.amo.lead(id: lead)?.statusID == 7_001_002 }
            try await system.eventually("the connector is active and nothing waits") {
                guard let tour = try await Self.tour(system) else { return false }
                return tour["paused"] as? Bool == false && tour["outbox_open"] as? Int == 0
            }
            try await DeliveryFaultTests.eventuallyMetric(system, "dealsync_connector_paused", #"connector="tour""#, equals: 0)
            let audit = try await AuditStore(database: system.database, logger: TestPostgres.logger).list(action: "connector.")
            #expect(audit.map(\.actor) == ["oncall-ivan"], "the probe's own resume is not a support action: \(audit)")
        }
    }

    /// A portal whose commercial plan ends refuses every call (403 `ACCESS_DENIED`): the first refused poll pauses
    /// the connector with Bitrix24's words, writes wait in the outbox rather than dead-letter, and once the plan is
    /// back a probe delivers them and resumes the connector.
    @Test func aBitrix24PortalWithoutRESTIsPausedByItsPollAndResumedByAProbe() async throws {
        var options = SyncSystem.Options()
        options.fitnessDeliveryYAML = "delivery: {backoff_base: 100ms, backoff_cap: 1s, max_attempts: 6, breaker_cooldown: 1s}"
        try await SyncSystem.run(options) { system in
            let deal = try system.masterDeal.createAsUser(
                .object([
                    "account_id": .string("acc-fitness"), "opportunity_name": .string("Абонемент"), "stage": .string("lead"),
                    "owner_id": .string("u-maria"),
                ])
            ).id
            try await system.eventually("the deal exists in Bitrix24", timeout: .seconds(20)) {
                system.bitrix.allDeals().contains { $0.originID == deal }
            }
            try await system.eventually("the outbox is empty") { try await DeliveryFaultTests.openOutbox(system) == 0 }
            let bitrixDeal = try #require(system.bitrix.allDeals().first { $0.originID == deal })

            system.bitrix.commercialPlanEnded = true
            try await system.eventually("a refused poll pauses the connector", timeout: .seconds(20)) {
                try await Self.connector("fitness", system)?["paused"] as? Bool == true
            }
            let paused = try #require(try await Self.connector("fitness", system))
            #expect(
                (paused["reason"] as? String)?.contains("ACCESS_DENIED: REST API is available only on commercial plans") == true,
                "\(paused)")
            try await DeliveryFaultTests.eventuallyMetric(system, "dealsync_connector_paused", #"connector="fitness""#, equals: 1)

            try system.masterDeal.editAsUser(id: deal, changes: .object(["stage": .string("qualified")]))
            try await system.eventually("the write waits in the outbox", timeout: .seconds(20)) {
                try await Self.connector("fitness", system)?["outbox_open"] as? Int == 1
            }
            #expect(try await Self.connector("fitness", system)?["dead_letters_open"] as? Int == 0, "nothing is dead-lettered")
            #expect(system.bitrix.deal(id: bitrixDeal.id)?.stageID == "C2:NEW")

            system.bitrix.commercialPlanEnded = false
            try await system.eventually("the probe delivers the write", timeout: .seconds(20)) {
                system.bitrix.deal(id: bitrixDeal.id)?.stageID == "C2:PREPARATION"
            }
            try await system.eventually("the connector is active and nothing waits") {
                guard let fitness = try await Self.connector("fitness", system) else { return false }
                return fitness["paused"] as? Bool == false && fitness["outbox_open"] as? Int == 0
            }
        }
    }

    /// The `tour` connector as `dealsync connector status --json` shows it.
    static func tour(_ system: SyncSystem) async throws -> [String: Any]? { try await connector("tour", system) }

    /// A connector as `dealsync connector status --json` shows it.
    static func connector(_ id: String, _ system: SyncSystem) async throws -> [String: Any]? {
        let result = try await DeliveryFaultTests.cli(system, ["connector", "status", "--connector", id, "--json"])
        guard result.status == 0 else {
            Issue.record("connector status failed: \(result.stderr)")
            return nil
        }
        return (try DeliveryFaultTests.json(result.stdout)["connectors"] as? [[String: Any]])?.first
    }
}
