import DealSyncCore
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Testing

/// `dealsync history` and `dealsync divergence` against a database a real gateway filled: a deal created in
/// MasterDeal, a personal field set in amoCRM, a one-way field changed on the wrong side, a rename made on both
/// sides at once, a write dead-lettered and replayed by support, and drift found and repaired.
@Suite(.serialized)
struct HistoryCommandTests {
    static let phone = "+7 916 555-12-34"
    static let phoneField = 900_003
    static let noteField = 900_006
    static let extraFields = """
          client_phone: {master: attributes.client_phone, crm: custom_fields.900003, direction: crm_to_master, conflict: {priority: crm}, pii: true}
          sla_note: {master: attributes.sla_note, crm: custom_fields.900006, direction: master_to_crm, conflict: {priority: master}}

        """

    @Test(.timeLimit(.minutes(3)))
    func aDealsWholeStoryInOrderWithItsRulesWritesAttemptsAndReplayAndNoPersonalValue() async throws {
        var options = SyncSystem.Options()
        options.polling = false  // MasterDeal's rename sends no event: the salesperson's rename meets a 412
        options.amoExtraYAML = """
            delivery: {backoff_base: 100ms, backoff_cap: 200ms, max_attempts: 3, breaker_threshold: 100}
            reconcile: {enabled: false}
            """
        options.tourExtraFields = Self.extraFields
        try await SyncSystem.run(options) { system in
            // 1. A deal made in MasterDeal becomes a lead.
            let dealID = try system.masterDeal.createAsUser(
                .object([
                    "account_id": .string("acc-tour"), "opportunity_name": .string("Анталья, 7 ночей"), "stage": .string("lead"),
                    "amount": .string("150000.00"), "currency": .string("RUB"), "owner_id": .string("u-olga"),
                    "attributes": .object(["sla_note": .string("звонить после 18:00")]),
                ])
            ).id
            try await system.eventually("the lead exists, linked", timeout: .seconds(20)) {
                DeliveryFaultTests.lead(system, of: dealID) != nil
            }
            try await Self.settled(system)
            let leadID = try #require(DeliveryFaultTests.lead(system, of: dealID)).id

            // 2. The salesperson records the traveller's phone (personal, CRM → MasterDeal).
            _ = try system.amo.editAsSalesperson(
                leadID: leadID, userID: 6_001_002, AmoLeadFields(customFields: [Self.phoneField: [Self.phone]]))
            try await system.eventually("MasterDeal has the phone", timeout: .seconds(20)) {
                system.masterDeal.deal(id: dealID)?.attributes["client_phone"] == .string(Self.phone)
            }
            try await Self.settled(system)

            // 3. The salesperson changes the SLA note, which only MasterDeal may change: written back, logged.
            _ = try system.amo.editAsSalesperson(
                leadID: leadID, userID: 6_001_002, AmoLeadFields(customFields: [Self.noteField: ["не звонить"]]))
            try await system.eventually("the note is written back", timeout: .seconds(20)) {
                system.amo.lead(id: leadID)?.values(ofField: Self.noteField) == ["звонить после 18:00"]
            }
            try await Self.settled(system)

            // 4. Both sides rename the deal; the salesperson's rename is later and wins by lww after a 412.
            try system.masterDeal.editAsUser(id: dealID, changes: .object(["opportunity_name": .string("Анталья, 14 ночей")]))
            try await Task.sleep(for: .milliseconds(1100))
            _ = try system.amo.editAsSalesperson(leadID: leadID, userID: 6_001_002, AmoLeadFields(name: "Анталья, 9 ночей"))
            try await system.eventually("both sides say «Анталья, 9 ночей»", timeout: .seconds(20)) {
                system.masterDeal.deal(id: dealID)?.opportunityName == "Анталья, 9 ночей"
                    && system.amo.lead(id: leadID)?.name == "Анталья, 9 ночей"
            }
            try await Self.settled(system)
            let beforeOutage = Date()
            try await Task.sleep(for: .milliseconds(1100))  // --since below cuts at a second

            // 5. amoCRM fails every request: the stage write is dead-lettered; support replays it once amoCRM is back.
            system.amo.faults.update(DeliveryFaultTests.faults(errorRate: 1))
            try system.masterDeal.editAsUser(id: dealID, changes: .object(["stage": .string("qualified")]))
            try await system.eventually("the stage write is dead-lettered", timeout: .seconds(20)) {
                try await DeliveryFaultTests.openDeadLetters(system) == 1
            }
            system.amo.faults.update(FaultSettings())
            let letter = try #require(try await DeliveryFaultTests.deadLetters(system).first)
            let replay = try await system.cli(["dlq", "replay", String(letter.id), "--actor", "support-anna"])
            #expect(replay.status == 0, "\(replay.stdout)\(replay.stderr)")
            try await system.eventually("the replayed stage lands", timeout: .seconds(20)) {
                system.amo.lead(id: leadID)?.statusID == 7_001_002
            }
            try await Self.settled(system)

            // The history, for tools.
            let run = try await system.cli(["history", dealID, "--json"])
            #expect(run.status == 0, "\(run.stderr)")
            let history = try Self.decode(HistoryDocument.self, run.stdout)
            let entries = history.entries
            #expect(history.masterDealId == dealID)
            #expect(history.records.map(\.connector) == ["tour"] && history.records.first?.recordId == String(leadID), "\(history.records)")
            #expect(entries.map(\.at) == entries.map(\.at).sorted(), "in time order")
            func first(_ kind: String, _ test: (Entry) -> Bool = { _ in true }) -> Int? {
                entries.firstIndex { $0.kind == kind && test($0) }
            }

            // The deal's creation: MasterDeal's event, the link, the create and its confirmation, in that order.
            let created = try #require(first("observation") { $0.connector == "masterdeal" }, "\(run.stdout)")
            #expect(
                entries[created].observation?.source == "event"
                    && entries[created].observation?.fields["opportunity_name"] == "\"Анталья, 7 ночей\"")
            let linked = try #require(first("link_made"))
            let create = try #require(first("write") { $0.write?.operation == "create" && $0.connector == "tour" })
            let confirmed = try #require(
                first("attempt") {
                    $0.attempt?.confirmed == true && $0.attempt?.outboxIds.contains(entries[create].write!.outboxId) == true
                })
            #expect(created < linked && linked <= create && create < confirmed, "\(created) \(linked) \(create) \(confirmed)")
            #expect(entries[create].lineageId == entries[created].lineageId, "the create carries the event's lineage")

            // The phone: an observation of the lead, a sequential decision, a write to MasterDeal — masked everywhere.
            let phoneSeen = try #require(first("observation") { $0.observation?.fields["custom_fields.900003"] != nil })
            #expect(entries[phoneSeen].observation?.fields["custom_fields.900003"] == "\"***\"")
            let phoneDecided = try #require(first("decision") { $0.field == "client_phone" })
            #expect(entries[phoneDecided].decision?.kind == "change" && entries[phoneDecided].decision?.order == "sequential")
            #expect(
                entries[phoneDecided].decision?.winner == "crm" && entries[phoneDecided].decision?.rule == "crm_to_master, priority:crm")
            let phoneWrite = try #require(first("write") { $0.write?.values["attributes.client_phone"] != nil })
            #expect(
                entries[phoneWrite].write?.values["attributes.client_phone"] == "\"***\"" && entries[phoneWrite].connector == "masterdeal")
            #expect(entries[phoneWrite].lineageId == entries[phoneSeen].lineageId, "the write carries the webhook's lineage")
            #expect(phoneSeen < phoneDecided && phoneDecided <= phoneWrite)
            #expect(history.fields.first { $0.field == "client_phone" }?.decided == "\"***\"")

            // The one-way violation, then the conflict, each with its rule and winner.
            let violation = try #require(first("decision") { $0.decision?.kind == "one_way_violation" })
            #expect(entries[violation].field == "sla_note" && entries[violation].decision?.winner == "master", "\(entries[violation])")
            #expect(
                entries[violation].decision?.masterValue == "\"звонить после 18:00\""
                    && entries[violation].decision?.crmValue == "\"не звонить\"")
            let conflict = try #require(first("decision") { $0.decision?.kind == "conflict" })
            let decision = try #require(entries[conflict].decision)
            #expect(
                entries[conflict].field == "title" && decision.rule == "lww" && decision.winner == "crm" && decision.order == "concurrent")
            #expect(decision.masterValue == "\"Анталья, 14 ночей\"" && decision.crmValue == "\"Анталья, 9 ночей\"")
            #expect(decision.masterAt != nil && decision.crmAt != nil && decision.divergenceId != nil)
            #expect(phoneWrite < violation && violation < conflict)
            #expect(
                entries.contains { $0.kind == "write" && $0.connector == "masterdeal" && $0.write?.status == "superseded" },
                "the refused rename is superseded")

            // The dead letter, its failed attempts, the replay, then the confirmation.
            let dead = try #require(first("dead_letter"))
            #expect(entries[dead].deadLetter?.id == letter.id && entries[dead].deadLetter?.errorClass == "server_error")
            #expect(entries[dead].deadLetter?.status == "replayed" && entries[dead].deadLetter?.attempts == 3)
            let failures = entries.indices.filter {
                entries[$0].kind == "attempt" && entries[$0].attempt?.outboxIds.contains(letter.outboxID) == true
                    && entries[$0].attempt?.confirmed == false
            }
            #expect(
                failures.count == 3 && failures.allSatisfy { $0 < dead }
                    && failures.allSatisfy { (500...599).contains(entries[$0].attempt?.status ?? 0) },
                "\(failures.map { entries[$0].summary })")
            let replayed = try #require(first("replay"))
            #expect(entries[replayed].support?.actor == "support-anna" && entries[replayed].support?.target == "dead_letter:\(letter.id)")
            let landed = try #require(
                entries.lastIndex {
                    $0.kind == "attempt" && $0.attempt?.confirmed == true && $0.attempt?.outboxIds.contains(letter.outboxID) == true
                })
            #expect(conflict < dead && dead < replayed && replayed < landed, "\(conflict) \(dead) \(replayed) \(landed)")

            // Every lineage id is a real UUID; no personal value anywhere in the document.
            #expect(entries.compactMap(\.lineageId).allSatisfy { UUID(uuidString: $0) != nil })
            #expect(!run.stdout.contains(Self.phone) && !run.stdout.contains("555-12-34"), "the phone never appears unmasked")
            #expect(try await Self.inboxHolds(system, "555-12-34"), "the raw bodies do hold it: the masking is what hides it")

            // The same story from the lead's side.
            let byLead = try await system.cli(["history", "tour:\(leadID)", "--json"])
            let fromLead = try Self.decode(HistoryDocument.self, byLead.stdout)
            #expect(byLead.status == 0 && fromLead.masterDealId == dealID && fromLead.entries.count == entries.count)

            // For people: the table, and the short form.
            let table = try await system.cli(["history", dealID])
            #expect(
                table.status == 0 && table.stdout.contains("fields now") && table.stdout.contains("conflict on title (lww, concurrent)"),
                "\(table.stdout)")
            #expect(table.stdout.contains(String(entries[conflict].lineageId!.lowercased().prefix(8))), "lineage ids are shown")
            let short = try await system.cli(["history", dealID, "--short"])
            #expect(short.status == 0 && !short.stdout.contains("fields now") && !short.stdout.contains(" attempt "), "\(short.stdout)")
            #expect(short.stdout.contains("dead_letter") && short.stdout.contains("replay"))
            for output in [table.stdout, short.stdout] { #expect(!output.contains("555-12-34") && output.contains("\"***\"")) }

            // Filters.
            let titled = try Self.decode(
                HistoryDocument.self, try await system.cli(["history", dealID, "--field", "title", "--json"]).stdout)
            #expect(titled.entries.contains { $0.decision?.kind == "conflict" })
            #expect(titled.entries.allSatisfy { $0.field == nil || $0.field == "title" })
            #expect(titled.entries.compactMap(\.observation).allSatisfy { Set($0.fields.keys).isSubset(of: ["name", "opportunity_name"]) })
            #expect(!titled.entries.contains { $0.kind == "dead_letter" } && titled.fields.allSatisfy { $0.field == "title" })
            let since = Timestamp.iso8601(millis: Int64(beforeOutage.timeIntervalSince1970 * 1000))
            let recent = try Self.decode(
                HistoryDocument.self, try await system.cli(["history", dealID, "--since", since, "--json"]).stdout)
            #expect(
                recent.entries.contains { $0.kind == "dead_letter" }
                    && !recent.entries.contains { $0.kind == "link_made" || $0.decision?.kind == "conflict" })
            #expect(recent.entries.allSatisfy { $0.at >= String(since.prefix(19)) }, "\(since) \(recent.entries.map(\.at))")

            // Bad input.
            let unknown = try await system.cli(["history", "D-does-not-exist"])
            #expect(
                unknown.status == 3 && unknown.stderr.contains("no deal D-does-not-exist: dealsync has stored nothing about it"),
                "\(unknown)")
            let unknownRecord = try await system.cli(["history", "tour:99999999"])
            #expect(unknownRecord.status == 3 && unknownRecord.stderr.contains("no tour record 99999999"), "\(unknownRecord)")
            let unknownConnector = try await system.cli(["history", "nosuch:123"])
            #expect(
                unknownConnector.status == 3
                    && unknownConnector.stderr.contains("no connector 'nosuch' (configured: fitness, masterdeal, tour)"),
                "\(unknownConnector)")
            for malformed in ["tour:", ":123", "tour:1:2"] {
                let result = try await system.cli(["history", malformed])
                #expect(result.status == 64 && result.stderr.contains("CONNECTOR:RECORD_ID"), "\(malformed): \(result)")
            }
            let badField = try await system.cli(["history", dealID, "--field", "titel"])
            #expect(
                badField.status == 1 && badField.stderr.contains("no field 'titel'") && badField.stderr.contains("title"), "\(badField)")
            let badSince = try await system.cli(["history", dealID, "--since", "yesterday"])
            #expect(badSince.status == 64 && badSince.stderr.contains("--since"), "\(badSince)")

            try await divergenceCommands(system, dealID: dealID, leadID: leadID)
        }
    }

    func divergenceCommands(_ system: SyncSystem, dealID: String, leadID: Int) async throws {
        let all = try Self.decode(DivergenceDocument.self, try await system.cli(["divergence", "list", "--json"]).stdout).divergence
        #expect(Set(all.map(\.kind)) == ["conflict", "one_way_violation"], "\(all)")
        let conflicts = try Self.decode(
            DivergenceDocument.self, try await system.cli(["divergence", "list", "--kind", "conflict", "--json"]).stdout
        ).divergence
        let conflict = try #require(conflicts.first)
        #expect(conflicts.count == 1 && conflict.field == "title" && conflict.rule == "lww" && conflict.winner == "crm")
        #expect(conflict.masterValue?.text == "Анталья, 14 ночей" && conflict.crmValue?.text == "Анталья, 9 ночей")
        #expect(conflict.masterAt != nil && conflict.crmAt != nil && conflict.masterDealId == dealID && conflict.recordId == String(leadID))
        let notes = try Self.decode(
            DivergenceDocument.self, try await system.cli(["divergence", "list", "--field", "sla_note", "--json"]).stdout
        ).divergence
        #expect(notes.map(\.kind) == ["one_way_violation"])
        let byDeal = try Self.decode(
            DivergenceDocument.self, try await system.cli(["divergence", "list", "--deal", dealID, "--connector", "tour", "--json"]).stdout)
        #expect(byDeal.divergence.count == all.count)
        let none = try await system.cli(["divergence", "list", "--connector", "fitness"])
        #expect(none.status == 0 && none.stdout.contains("(none)"), "\(none)")
        let later = try await system.cli(["divergence", "list", "--since", "2999-01-01T00:00:00Z", "--json"])
        #expect(try Self.decode(DivergenceDocument.self, later.stdout).divergence.isEmpty)
        let table = try await system.cli(["divergence", "list"])
        #expect(
            table.status == 0 && table.stdout.contains("one_way_violation") && table.stdout.contains("\"Анталья, 14 ночей\" @ "),
            "\(table.stdout)")

        let shown = try await system.cli(["divergence", "show", String(conflict.id)])
        #expect(shown.status == 0 && shown.stdout.contains("divergence \(conflict.id): conflict"), "\(shown)")
        #expect(
            shown.stdout.contains("winner      crm") && shown.stdout.contains("rule        lww")
                && shown.stdout.contains("Анталья, 9 ночей"))
        #expect(shown.stdout.contains("dealsync history \(dealID)"))
        let shownJSON = try Self.decode(
            DivergenceEntry.self, try await system.cli(["divergence", "show", String(conflict.id), "--json"]).stdout)
        #expect(shownJSON.id == conflict.id && shownJSON.winner == "crm")
        let missing = try await system.cli(["divergence", "show", "999999"])
        #expect(missing.status == 3 && missing.stderr.contains("no divergence entry 999999"), "\(missing)")
        let badKind = try await system.cli(["divergence", "list", "--kind", "conflicts"])
        #expect(badKind.status == 64 && badKind.stderr.contains("one_way_violation"), "\(badKind)")
        for output in [table.stdout, shown.stdout] { #expect(!output.contains("555-12-34")) }
    }

    @Test(.timeLimit(.minutes(2)))
    func driftFoundAndRepairedIsInTheHistory() async throws {
        try await SyncSystem.run(DriftTests.options()) { system in
            let (dealID, leadID) = try await DriftTests().newLead(system, title: "Сочи")
            system.amo.pauseWebhooks()
            _ = try system.amo.editAsSalesperson(
                leadID: leadID, userID: 6_001_002, AmoLeadFields(statusID: 7_001_004, pipelineID: 7_001_000))
            try await system.eventually("the stage drift is repaired and closed", timeout: .seconds(30)) {
                let drift = try await DriftTests().drift(system, field: "stage")
                return system.masterDeal.deal(id: dealID)?.stage == "proposal" && !drift.isEmpty && drift.allSatisfy { !$0.open }
            }
            let run = try await system.cli(["history", dealID, "--json"])
            #expect(run.status == 0, "\(run.stderr)")
            let entries = try Self.decode(HistoryDocument.self, run.stdout).entries
            let found = try #require(entries.firstIndex { $0.kind == "drift" && $0.field == "stage" }, "\(run.stdout)")
            #expect(
                entries[found].decision?.open == false && entries[found].decision?.outcome.contains("repairing by the field's rule") == true
            )
            let repair = try #require(
                entries.indices.first {
                    $0 > found && $0 < entries.count && entries[$0].kind == "write" && entries[$0].connector == "masterdeal"
                },
                "the repair writes MasterDeal after the drift is found")
            let closed = try #require(entries.firstIndex { $0.kind == "drift_closed" && $0.field == "stage" })
            #expect(found < repair && repair < closed && entries[closed].decision?.outcome == "the sides agree again", "\(entries[closed])")
            let drift = try Self.decode(
                DivergenceDocument.self, try await system.cli(["divergence", "list", "--kind", "drift", "--json"]).stdout
            ).divergence
            #expect(drift.contains { $0.field == "stage" && $0.open == false })
        }
    }

    // MARK: Helpers

    static func settled(_ system: SyncSystem) async throws {
        try await system.eventually("nothing is left to write", timeout: .seconds(20)) {
            try await DeliveryFaultTests.openOutbox(system) == 0
        }
    }

    static func inboxHolds(_ system: SyncSystem, _ text: String) async throws -> Bool {
        let rows = try await system.database.client.query(
            "SELECT count(*)::int8 FROM inbox WHERE position(convert_to(\(text), 'UTF8') IN body) > 0")
        for try await count in rows.decode(Int.self) { return count > 0 }
        return false
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(type, from: Data(text.utf8))
        } catch {
            Issue.record("cannot decode \(type) from: \(text.prefix(2_000))")
            throw error
        }
    }

    // MARK: The documented JSON shapes, decoded independently of the code that writes them

    struct HistoryDocument: Decodable {
        var masterDealId: String?
        var records: [Record]
        var fields: [FieldNow]
        var entries: [Entry]
        var notes: [String]
    }

    struct Record: Decodable {
        var connector: String
        var recordId: String?
        var state: String
        var linkedAt: String
    }

    struct FieldNow: Decodable {
        var connector: String
        var field: String
        var decided: String?
        var decidedBy: String?
        var pendingMaster: Int
        var pendingCrm: Int
    }

    struct Entry: Decodable {
        var at: String
        var kind: String
        var connector: String
        var recordId: String?
        var lineageId: String?
        var field: String?
        var summary: String
        var observation: Observation?
        var decision: Decision?
        var write: Write?
        var attempt: Attempt?
        var deadLetter: DeadLetterInfo?
        var support: Support?
    }

    struct Observation: Decodable {
        var inboxId: Int64
        var source: String
        var receivedAt: String
        var action: String
        var status: String
        var fields: [String: String]
    }

    struct Decision: Decodable {
        var divergenceId: Int64?
        var kind: String
        var order: String?
        var rule: String?
        var winner: String?
        var masterValue: String?
        var crmValue: String?
        var masterAt: String?
        var crmAt: String?
        var outcome: String
        var open: Bool?
    }

    struct Write: Decodable {
        var outboxId: Int64
        var target: String
        var operation: String
        var status: String
        var values: [String: String]
        var coalescedWith: [Int64]
        var replays: Int
    }

    struct Attempt: Decodable {
        var outboxIds: [Int64]
        var number: Int
        var status: Int?
        var errorClass: String
        var confirmed: Bool
    }

    struct DeadLetterInfo: Decodable {
        var id: Int64
        var outboxId: Int64
        var errorClass: String
        var attempts: Int
        var status: String
    }

    struct Support: Decodable {
        var actor: String
        var action: String
        var target: String?
    }

    struct DivergenceDocument: Decodable {
        var divergence: [DivergenceEntry]
    }

    struct DivergenceEntry: Decodable {
        var id: Int64
        var kind: String
        var connector: String
        var masterDealId: String?
        var recordId: String?
        var field: String?
        var masterValue: Value?
        var crmValue: Value?
        var masterAt: String?
        var crmAt: String?
        var rule: String?
        var winner: String?
        var outcome: String
        var open: Bool
    }

    /// A value as the divergence log stores it: `{"text": "..."}`, `{"money": {...}}`, ...
    struct Value: Decodable {
        var text: String?
    }
}
