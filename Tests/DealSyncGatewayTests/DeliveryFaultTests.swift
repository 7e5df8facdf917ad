import AsyncHTTPClient
import DealSyncConnectors
import DealSyncCore
import DealSyncGateway
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import NIOHTTP1
import PostgresNIO
import Testing

/// Delivery against targets that misbehave: server errors, hangs, 429 storms, a target that is down, a record
/// that can never be written. Every change must land once in effect and in order per record, and whatever
/// cannot be delivered must end in the dead-letter queue where support can see and replay it from the CLI.
@Suite(.serialized)
struct DeliveryFaultTests {
    // MARK: Flaky targets

    @Test func underServerErrorsHangsAndRateLimitStormsEveryChangeLandsOnceAndInOrder() async throws {
        var options = SyncSystem.Options()
        // The breaker opens as in production (five failures in a row, the default); only its cooldown is short, so
        // the storm with an opening breaker stays a test of seconds.
        options.amoExtraYAML =
            "delivery: {backoff_base: 100ms, backoff_cap: 1s, max_attempts: 60, request_timeout: 1s, breaker_cooldown: 2s}"
        options.amo = { configuration in
            configuration.faults.errorRate = 0.3
            configuration.faults.rateLimitRate = 0.1
            configuration.faults.retryAfterSeconds = 1
            configuration.faults.timeoutRate = 0.05
            configuration.faults.hangMillis = 1_500
            configuration.faults.seed = 11
        }
        try await SyncSystem.run(options) { system in
            system.masterDeal.faults.update(Self.faults(errorRate: 0.3, seed: 12))
            let count = 10
            let deals = try (0..<count).map { index in
                try system.masterDeal.createAsUser(
                    .object([
                        "account_id": .string("acc-tour"), "opportunity_name": .string("Шторм \(index)"), "stage": .string("lead"),
                        "amount": .string("1000.00"), "currency": .string("RUB"), "owner_id": .string("u-olga"),
                    ])
                ).id
            }
            // Each deal moves on twice while its first writes are still fighting the faults: the last values win.
            for (index, id) in deals.enumerated() {
                try system.masterDeal.editAsUser(id: id, changes: .object(["stage": .string("qualified"), "amount": .string("2000.00")]))
                try system.masterDeal.editAsUser(
                    id: id, changes: .object(["stage": .string("proposal"), "amount": .string("\(3000 + index).00")]))
            }
            try await system.eventually("every deal reached amoCRM with its last values", timeout: .seconds(60)) {
                deals.enumerated().allSatisfy { index, id in
                    guard let lead = Self.lead(system, of: id) else { return false }
                    return lead.statusID == 7_001_004 && lead.price == 3_000 + index
                }
            }
            try await system.eventually("the outbox is empty", timeout: .seconds(30)) { try await Self.openOutbox(system) == 0 }

            // And back: salespeople hand half the leads to Ivan; MasterDeal (30% server errors) follows.
            for id in deals.prefix(count / 2) {
                let lead = try #require(Self.lead(system, of: id))
                _ = try system.amo.editAsSalesperson(leadID: lead.id, userID: 6_001_001, AmoLeadFields(responsibleUserID: 6_001_002))
            }
            try await system.eventually("MasterDeal follows every hand-over", timeout: .seconds(60)) {
                deals.enumerated().allSatisfy { index, id in
                    system.masterDeal.deal(id: id)?.ownerID == (index < count / 2 ? "u-ivan" : "u-olga")
                }
            }
            try await system.eventually("the outbox is empty again", timeout: .seconds(30)) { try await Self.openOutbox(system) == 0 }
            #expect(system.masterDeal.allDeals().count == count, "no duplicate deals")
            let serverErrors = system.masterDeal.stats.requests.values.flatMap { $0 }.filter { $0.key.hasPrefix("5") }.map(\.value).reduce(
                0, +)
            #expect(serverErrors > 0, "MasterDeal's faults were played too")
            #expect(system.amo.allLeads(includingDeleted: true).count == count, "one lead per deal, none duplicated")
            for id in deals {
                #expect(system.amo.allLeads(includingDeleted: true).filter { $0.values(ofField: 900_001) == [id] }.count == 1)
            }
            let rows = try await Self.outbox(system, target: "tour") + (try await Self.outbox(system, target: "masterdeal"))
            #expect(rows.allSatisfy { $0.status == "done" || $0.status == "superseded" }, "\(rows.map(\.status))")
            #expect(rows.contains { $0.tries > 1 }, "the faults were really played (some writes needed retries)")
            #expect(rows.allSatisfy { $0.delivered <= 1 }, "no row confirmed twice")
            Self.expectInOrderPerRecord(rows)
            #expect(try await Self.openDeadLetters(system) == 0)
            let retries = try await Self.metric(system, "dealsync_retries_total", containing: #"target="tour""#)
            #expect(retries > 0, "retries are counted")
            // Every round's phases are timed: as many sends and recordings as claims, none of them free.
            var rounds: [String: Double] = [:]
            for phase in ["claim", "send", "record"] {
                let labels = #"target="tour",phase="\#(phase)",relay="regular""#
                rounds[phase] = try await Self.metric(system, "dealsync_relay_phase_seconds_count", containing: labels)
                #expect(try await Self.metric(system, "dealsync_relay_phase_seconds_sum", containing: labels) > 0, "\(phase)")
            }
            #expect(rounds["claim"]! > 0 && rounds["send"] == rounds["claim"] && rounds["record"] == rounds["claim"], "\(rounds)")
        }
    }

    @Test func aTargetDownForAWhileOpensTheBreakerAndEverythingLandsWhenItReturns() async throws {
        var options = SyncSystem.Options()
        options.amoExtraYAML =
            "delivery: {backoff_base: 100ms, backoff_cap: 500ms, max_attempts: 100, breaker_threshold: 3, breaker_cooldown: 2s}"
        try await SyncSystem.run(options) { system in
            system.amo.faults.update(Self.faults(down: true))
            let deals = try (0..<5).map { index in
                try system.masterDeal.createAsUser(
                    .object([
                        "account_id": .string("acc-tour"), "opportunity_name": .string("Простой \(index)"), "stage": .string("lead"),
                        "owner_id": .string("u-ivan"),
                    ])
                ).id
            }
            try await system.eventually("the breaker opens", timeout: .seconds(15)) {
                try await Self.metric(system, "dealsync_breaker_state", containing: #"target="tour""#) == 2
            }
            // While open it only probes: over 4 s with a 2 s cooldown (doubling) that is at most a couple of requests.
            let before = system.amo.stats.requestsByRoute["POST /api/v4/leads", default: 0]
            try await Task.sleep(for: .seconds(4))
            let during = system.amo.stats.requestsByRoute["POST /api/v4/leads", default: 0] - before
            #expect(during <= 3, "an open breaker stops hammering the target (\(during) create requests in 4 s)")
            #expect(system.amo.allLeads(includingDeleted: true).isEmpty)

            system.amo.faults.update(FaultSettings())
            try await system.eventually("every deal lands once the target is back", timeout: .seconds(30)) {
                deals.allSatisfy { Self.lead(system, of: $0) != nil }
            }
            try await system.eventually("the breaker closes", timeout: .seconds(10)) {
                try await Self.metric(system, "dealsync_breaker_state", containing: #"target="tour""#) == 0
            }
            #expect(system.amo.allLeads(includingDeleted: true).count == deals.count, "none duplicated")
            #expect(try await Self.openDeadLetters(system) == 0, "a target that is down is waited for, not given up on")
        }
    }

    // MARK: Dead letters and support

    @Test func exhaustedRetriesEndInTheDeadLetterQueueWithEveryAttemptAndReplayDeliversThem() async throws {
        var options = SyncSystem.Options()
        options.amoExtraYAML = "delivery: {backoff_base: 100ms, backoff_cap: 200ms, max_attempts: 3, breaker_threshold: 100}"
        try await SyncSystem.run(options) { system in
            system.amo.faults.update(Self.faults(errorRate: 1))
            let deal = try system.masterDeal.createAsUser(
                .object([
                    "account_id": .string("acc-tour"), "opportunity_name": .string("Анапа"), "stage": .string("lead"),
                    "owner_id": .string("u-olga"),
                ]))
            try await system.eventually("the create is dead-lettered", timeout: .seconds(20)) {
                try await Self.openDeadLetters(system) == 1
            }
            let letter = try #require(try await Self.deadLetters(system).first)
            #expect(letter.attempts.count == 3, "dead-lettered after exactly the configured attempts")
            #expect(letter.attempts.allSatisfy { (500...599).contains($0.status ?? 0) }, "\(letter.attempts)")
            #expect(letter.errorClass == "server_error")
            #expect(letter.operation == "create" && letter.masterDealID == deal.id)
            try await Self.eventuallyMetric(system, "dealsync_dead_letters_open", #"target="tour""#, equals: 1)

            system.amo.faults.update(FaultSettings())
            let replay = try await Self.cli(system, ["dlq", "replay", "--all", "--connector", "tour", "--actor", "support-anna"])
            #expect(replay.status == 0, "\(replay.stdout)\(replay.stderr)")
            #expect(replay.stdout.contains("[1/1] dead letter \(letter.id)"), "\(replay.stdout)")
            try await system.eventually("the replayed create lands", timeout: .seconds(15)) { Self.lead(system, of: deal.id) != nil }
            try await system.eventually("the letter is resolved") { try await Self.openDeadLetters(system) == 0 }
            #expect(system.amo.allLeads(includingDeleted: true).count == 1, "replayed once")
            let resolved = try #require(try await Self.deadLetters(system, status: nil).first)
            #expect(resolved.status == "replayed" && resolved.resolvedBy == "support-anna" && resolved.replayCount == 1)
            let listed = try await Self.cli(system, ["dlq", "list", "--status", "all"])
            let line = listed.stdout.split(separator: "\n").first { $0.hasPrefix("\(letter.id) ") }
            #expect(line?.contains(" 1/5 ") == true, "the table shows the replays used of the loop breaker's 5: \(listed.stdout)")
        }
    }

    @Test func aPoisonRecordIsIsolatedAndSupportInspectsDryRunsReplaysAndDropsFromTheCLI() async throws {
        var options = SyncSystem.Options()
        options.polling = false  // nobody tells dealsync about the deleted leads: their writes fail for good
        try await SyncSystem.run(options) { system in
            let deals = try (0..<4).map { index in
                try system.masterDeal.createAsUser(
                    .object([
                        "account_id": .string("acc-tour"), "opportunity_name": .string("Яд \(index)"), "stage": .string("lead"),
                        "amount": .string("1000.00"), "currency": .string("RUB"), "owner_id": .string("u-olga"),
                    ])
                ).id
            }
            try await system.eventually("every lead exists", timeout: .seconds(20)) {
                deals.allSatisfy { Self.lead(system, of: $0) != nil }
            }
            try await system.eventually("the outbox is empty") { try await Self.openOutbox(system) == 0 }
            let leads = deals.map { Self.lead(system, of: $0)!.id }
            system.amo.pauseWebhooks()
            #expect(system.amo.deleteAsSalesperson(leadID: leads[1], userID: 6_001_001))
            #expect(system.amo.deleteAsSalesperson(leadID: leads[2], userID: 6_001_001))
            // A stage change is an event (StageChanged) MasterDeal pushes at once.
            for id in deals { try system.masterDeal.editAsUser(id: id, changes: .object(["stage": .string("qualified")])) }
            do {
                try await system.eventually("the two poisoned writes are dead-lettered", timeout: .seconds(20)) {
                    try await Self.openDeadLetters(system) == 2
                }
            } catch {
                print(try await system.dump())
                throw error
            }
            // The poison is isolated: the healthy records get their writes (in whichever batch they were claimed),
            // each at its first attempt, and nothing else stays waiting.
            try await system.eventually("the healthy leads are qualified") {
                system.amo.lead(id: leads[0])?.statusID == 7_001_002 && system.amo.lead(id: leads[3])?.statusID == 7_001_002
            }
            try await system.eventually("nothing else is waiting") { try await Self.openOutbox(system) == 0 }
            let rows = try await Self.outbox(system, target: "tour")
            #expect(rows.filter { $0.status == "dead" }.count == 2, "only the poisoned writes are dead")
            #expect(rows.filter { $0.status != "dead" }.allSatisfy { $0.status == "done" && $0.delivered == 1 }, "\(rows)")

            // list --json names both, with their deal and error class.
            let listed = try await Self.cli(system, ["dlq", "list", "--connector", "tour", "--json"])
            #expect(listed.status == 0, "\(listed.stderr)")
            let letters = try #require(Self.json(listed.stdout)["dead_letters"] as? [[String: Any]])
            #expect(Set(letters.compactMap { $0["master_deal_id"] as? String }) == [deals[1], deals[2]])
            let poisoned = try #require(letters.first { $0["master_deal_id"] as? String == deals[1] }?["id"] as? Int)
            let doomed = try #require(letters.first { $0["master_deal_id"] as? String == deals[2] }?["id"] as? Int)
            let table = try await Self.cli(system, ["dlq", "list", "--deal", deals[1]])
            #expect(table.stdout.contains(deals[1]) && !table.stdout.contains(deals[2]), "\(table.stdout)")

            // show: payload, attempts and the MasterDeal event that caused it.
            let shown = try await Self.cli(system, ["dlq", "show", String(poisoned)])
            #expect(shown.status == 0, "\(shown.stderr)")
            #expect(shown.stdout.contains("status = "), "\(shown.stdout)")
            #expect(shown.stdout.contains("attempts\n  1. "), "\(shown.stdout)")
            #expect(shown.stdout.contains("masterdeal"), "the lineage names the event that caused the write: \(shown.stdout)")
            let missing = try await Self.cli(system, ["dlq", "show", "999999"])
            #expect(missing.status == 3 && missing.stderr.contains("no dead letter 999999"), "\(missing.status) \(missing.stderr)")

            // A dry run changes nothing.
            let outboxBefore = try await Self.outbox(system, target: "tour").count
            let dry = try await Self.cli(system, ["dlq", "replay", String(poisoned), "--dry-run"])
            #expect(dry.status == 0, "\(dry.stdout)\(dry.stderr)")
            #expect(dry.stdout.contains("dry run: 1 replayed"), "\(dry.stdout)")
            #expect(try await Self.outbox(system, target: "tour").count == outboxBefore)
            #expect(try await Self.deadLetters(system).count == 2)

            // The salesperson restores the lead from the trash; support replays; the value lands.
            #expect(system.amo.restoreAsSalesperson(leadID: leads[1], userID: 6_001_001))
            let replayed = try await Self.cli(system, ["dlq", "replay", String(poisoned), "--actor", "support-anna"])
            #expect(replayed.status == 0, "\(replayed.stdout)\(replayed.stderr)")
            try await system.eventually("the replayed write lands", timeout: .seconds(15)) {
                system.amo.lead(id: leads[1])?.statusID == 7_001_002
            }

            // The other lead was deleted on purpose: support drops its write with a reason.
            let dropped = try await Self.cli(
                system, ["dlq", "drop", String(doomed), "--reason", "lead deleted on purpose", "--actor", "support-anna"])
            #expect(dropped.status == 0, "\(dropped.stderr)")
            #expect(try await Self.openDeadLetters(system) == 0)
            let again = try await Self.cli(system, ["dlq", "drop", String(doomed), "--reason", "twice"])
            #expect(again.status != 0, "a dead letter is dropped once")

            let audit = try await Self.cli(system, ["dlq", "audit", "--json"])
            let entries = try #require(Self.json(audit.stdout)["audit"] as? [[String: Any]])
            let actions = entries.compactMap { entry in (entry["action"] as? String).map { ($0, entry["actor"] as? String ?? "") } }
            #expect(actions.contains { $0 == ("dlq.replay", "support-anna") }, "\(actions)")
            #expect(actions.contains { $0 == ("dlq.drop", "support-anna") }, "\(actions)")
            #expect(entries.contains { ($0["reason"] as? String) == "lead deleted on purpose" })
            #expect(!actions.contains { $0.0 == "dlq.replay" && $0.1 != "support-anna" }, "a dry run is not an action: \(actions)")
        }
    }

    // MARK: Several processes

    /// Two processes on one database, as two `dealsync serve` replicas run: MasterDeal writes are claimed by both
    /// (`FOR UPDATE SKIP LOCKED`), a CRM's lane is held by one at a time (its rate limit is per account).
    @Test func twoGatewaysOnOneDatabaseDeliverEveryRowOnce() async throws {
        var options = SyncSystem.Options()
        options.extraGateways = 1
        options.amoExtraYAML = "delivery: {backoff_base: 100ms, backoff_cap: 1s, max_attempts: 60}"
        try await SyncSystem.run(options) { system in
            let count = 15
            let deals = try (0..<count).map { index in
                try system.masterDeal.createAsUser(
                    .object([
                        "account_id": .string("acc-tour"), "opportunity_name": .string("Двое \(index)"), "stage": .string("lead"),
                        "amount": .string("1000.00"), "currency": .string("RUB"), "owner_id": .string("u-ivan"),
                    ])
                ).id
            }
            for index in 0..<count {
                _ = try system.amo.createAsSalesperson(
                    userID: 6_001_002,
                    AmoLeadFields(
                        name: "Из amoCRM \(index)", price: 2_000 + index, responsibleUserID: 6_001_002))
            }
            for id in deals { try system.masterDeal.editAsUser(id: id, changes: .object(["stage": .string("qualified")])) }
            try await system.eventually("every deal is in amoCRM, qualified, and every lead in MasterDeal", timeout: .seconds(60)) {
                deals.allSatisfy { Self.lead(system, of: $0)?.statusID == 7_001_002 }
                    && system.masterDeal.allDeals().filter { $0.opportunityName.hasPrefix("Из amoCRM ") }.count == count
                    && system.amo.allLeads(includingDeleted: false).filter { $0.name.hasPrefix("Из amoCRM ") }
                        .allSatisfy { $0.values(ofField: 900_001)?.first?.isEmpty == false }
            }
            try await system.eventually("the outbox is empty", timeout: .seconds(30)) { try await Self.openOutbox(system) == 0 }
            #expect(system.amo.allLeads(includingDeleted: true).count == 2 * count, "no duplicate leads")
            #expect(system.masterDeal.allDeals().count == 2 * count, "no duplicate deals")
            // MasterDeal's limit is shared: each of the two processes takes half of its rate.
            for gateway in [system.gateway] + system.others {
                try await system.eventually("\(gateway.options.worker) takes half of MasterDeal's rate") {
                    gateway.registry.connector("masterdeal")?.limiter.share == 0.5
                }
                try await system.eventually("\(gateway.options.worker) exports its share") {
                    gateway.metrics.exposition().contains(#"dealsync_rate_limit_share{connector="masterdeal"} 0.5"#)
                }
            }
            let toAmo = try await Self.outbox(system, target: "tour")
            let toMaster = try await Self.outbox(system, target: "masterdeal")
            #expect(toMaster.count >= count)
            for rows in [toAmo, toMaster] {
                #expect(rows.allSatisfy { $0.delivered <= 1 }, "every row confirmed at most once")
                Self.expectInOrderPerRecord(rows)
            }
            let amoWorkers = Set(toAmo.flatMap(\.workers)), masterWorkers = Set(toMaster.flatMap(\.workers))
            print("amoCRM writes delivered by", amoWorkers.sorted(), "MasterDeal writes by", masterWorkers.sorted())
            #expect(amoWorkers.count == 1, "one process holds amoCRM's lane at a time")
            #expect(masterWorkers.isSubset(of: ["gateway-1", "gateway-2"]) && !masterWorkers.isEmpty)
        }
    }

    // MARK: Helpers

    static func faults(errorRate: Double = 0, down: Bool = false, seed: UInt64 = 1) -> FaultSettings {
        var settings = FaultSettings()
        settings.errorRate = errorRate
        settings.down = down
        settings.seed = seed
        return settings
    }

    static func lead(_ system: SyncSystem, of deal: String) -> AmoLead? {
        system.amo.allLeads(includingDeleted: false).first { $0.values(ofField: 900_001) == [deal] }
    }

    struct Row {
        var id: Int64
        var recordKey: String
        var status: String
        var attempts: Int
        var doneAt: Date?
        var delivered: Int
        var workers: [String]
        /// Every attempt made, failed or not.
        var tries: Int
    }

    static func outbox(_ system: SyncSystem, target: String) async throws -> [Row] {
        let rows = try await system.database.client.query(
            """
            SELECT id, record_key, status, attempts, done_at, attempt_log::text FROM outbox WHERE target = \(target) ORDER BY id
            """)
        var result: [Row] = []
        for try await (id, key, status, attempts, doneAt, log) in rows.decode((Int64, String, String, Int, Date?, String).self) {
            let entries = (try? JSONSerialization.jsonObject(with: Data(log.utf8))) as? [[String: Any]] ?? []
            let delivered = entries.filter { $0["error_class"] as? String == "delivered" }
            result.append(
                Row(
                    id: id, recordKey: key, status: status, attempts: attempts, doneAt: doneAt, delivered: delivered.count,
                    workers: delivered.compactMap { $0["worker"] as? String }, tries: entries.count))
        }
        return result
    }

    /// Writes for one record are confirmed in the order they were decided.
    static func expectInOrderPerRecord(_ rows: [Row], sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        for (key, writes) in Dictionary(grouping: rows.filter { $0.status == "done" }, by: \.recordKey) {
            let times = writes.sorted { $0.id < $1.id }.compactMap(\.doneAt)
            #expect(times == times.sorted(), "writes for \(key) confirmed out of order", sourceLocation: sourceLocation)
        }
    }

    static func openOutbox(_ system: SyncSystem) async throws -> Int {
        try await OutboxClaims(database: system.database, logger: TestPostgres.logger).depth().reduce(0) { $0 + $1.open }
    }

    static func deadLetters(_ system: SyncSystem, status: String? = "open") async throws -> [DeadLetter] {
        try await DeadLetterStore(database: system.database, logger: TestPostgres.logger)
            .list(DeadLetterFilter(connector: nil, since: nil, errorClass: nil, deal: nil, status: status))
    }

    static func openDeadLetters(_ system: SyncSystem) async throws -> Int { try await deadLetters(system).count }

    /// The value of the first sample of `name` whose labels contain `labels`, from the gateway's /metrics.
    static func metric(_ system: SyncSystem, _ name: String, containing labels: String) async throws -> Double {
        let (_, body) = try await HTTPClient.shared.send(.GET, system.gatewayURL + "/metrics")
        for line in body.split(separator: "\n") where line.hasPrefix(name + "{") && line.contains(labels) {
            return Double(line.split(separator: " ").last ?? "") ?? .nan
        }
        return .nan
    }

    static func eventuallyMetric(_ system: SyncSystem, _ name: String, _ labels: String, equals value: Double) async throws {
        try await system.eventually("\(name){\(labels)} is \(value)", timeout: .seconds(5)) {
            try await metric(system, name, containing: labels) == value
        }
    }

    static func cli(_ system: SyncSystem, _ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await system.cli(arguments)
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text)")
    }
}
