import DealSyncCore
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Testing

/// A yes/no field (`transform: boolean`) between a MasterDeal attribute and an amoCRM checkbox, both ways, through
/// the real gateway: ticked, unticked (amoCRM may leave an unticked box out of the lead), and unset.
@Suite struct BooleanFieldTests {
    static let insured = "  insured: {master: attributes.insured, crm: custom_fields.900007, transform: boolean, conflict: lww}\n"
    static let field = 900_007

    @Test func aCheckboxTickedOrUntickedOnEitherSideReachesTheOther() async throws {
        var options = SyncSystem.Options()
        options.tourExtraFields = Self.insured
        // Polling stays on: MasterDeal sends no event for an attribute change, its poll finds it.
        try await SyncSystem.run(options) { system in
            // MasterDeal says insured: the lead is created with the box ticked.
            let deal = try system.masterDeal.createAsUser(
                .object([
                    "account_id": .string("acc-tour"), "opportunity_name": .string("Страховка"), "stage": .string("lead"),
                    "owner_id": .string("u-olga"), "attributes": .object(["insured": .bool(true)]),
                ])
            ).id
            try await system.eventually("the lead has the box ticked", timeout: .seconds(20)) {
                DeliveryFaultTests.lead(system, of: deal)?.values(ofField: Self.field) == ["1"]
            }
            try await system.eventually("the outbox is empty") { try await DeliveryFaultTests.openOutbox(system) == 0 }
            let lead = try #require(DeliveryFaultTests.lead(system, of: deal)).id

            // The salesperson unticks it: MasterDeal's attribute becomes false (not removed, not left true).
            _ = try system.amo.editAsSalesperson(leadID: lead, userID: 6_001_001, AmoLeadFields(customFields: [Self.field: ["0"]]))
            try await system.eventually("MasterDeal has insured = false", timeout: .seconds(20)) {
                Self.insured(system, deal) == .bool(false)
            }
            // Cleared altogether in amoCRM (the field is gone from the lead): still false, nothing is written. The
            // write that brought `false` to MasterDeal is recorded first, so any row after it is the clearing's.
            try await system.eventually("the outbox is empty") { try await DeliveryFaultTests.openOutbox(system) == 0 }
            let writesBefore = try await Self.outboxRows(system)
            let cleared = try system.amo.editAsSalesperson(leadID: lead, userID: 6_001_001, AmoLeadFields(customFields: [Self.field: nil]))
            try await system.eventually("dealsync has seen the cleared lead", timeout: .seconds(20)) {
                try await Self.crmKnownAt(system) >= Int64(cleared.updatedAt) * 1000
            }
            #expect(try await Self.outboxRows(system) == writesBefore, "a cleared box says what an unticked one says")
            #expect(Self.insured(system, deal) == .bool(false))
            // MasterDeal ticks it again: the box is ticked in amoCRM.
            try system.masterDeal.editAsUser(id: deal, changes: .object(["attributes": .object(["insured": .bool(true)])]))
            try await system.eventually("the box is ticked again", timeout: .seconds(20)) {
                system.amo.lead(id: lead)?.values(ofField: Self.field) == ["1"]
            }
            try await system.eventually("the outbox is empty") { try await DeliveryFaultTests.openOutbox(system) == 0 }
            #expect(Self.insured(system, deal) == .bool(true))

            // A lead made in amoCRM without touching the box: its deal says not insured.
            let plain = try system.amo.createAsSalesperson(
                userID: 6_001_002, AmoLeadFields(name: "Без страховки", price: 1_000, responsibleUserID: 6_001_002))
            // And one made with the box ticked: its deal says insured.
            let ticked = try system.amo.createAsSalesperson(
                userID: 6_001_002,
                AmoLeadFields(
                    name: "Со страховкой", price: 2_000, responsibleUserID: 6_001_002, customFields: [Self.field: ["1"]]))
            try await system.eventually("both leads have deals with the right answer", timeout: .seconds(20)) {
                Self.deal(system, named: "Без страховки")?.attributes["insured"] == .bool(false)
                    && Self.deal(system, named: "Со страховкой")?.attributes["insured"] == .bool(true)
            }
            try await system.eventually("the outbox is empty") { try await DeliveryFaultTests.openOutbox(system) == 0 }
            #expect(
                system.amo.lead(id: plain.id)?.values(ofField: Self.field).map { $0 == ["1"] } != true, "the unticked lead stays unticked")
            #expect(system.amo.lead(id: ticked.id)?.values(ofField: Self.field) == ["1"])
            let conflicts = try await system.database.client.query(
                "SELECT count(*)::int8 FROM divergence_log WHERE field = 'insured' AND kind = 'conflict'")
            for try await count in conflicts.decode(Int.self) { #expect(count == 0, "one-sided changes are not conflicts") }
        }
    }

    /// Every write dealsync ever enqueued, delivered or not.
    static func outboxRows(_ system: SyncSystem) async throws -> Int64 {
        let rows = try await system.database.client.query("SELECT count(*) FROM outbox")
        for try await count in rows.decode(Int64.self) { return count }
        return 0
    }

    /// When the newest amoCRM value of `insured` that dealsync knows was made (the test's only link).
    static func crmKnownAt(_ system: SyncSystem) async throws -> Int64 {
        let rows = try await system.database.client.query(
            "SELECT coalesce(max((states::jsonb->'insured'->'crm'->'known_at'->>'millis')::int8), 0) FROM link_fields")
        for try await millis in rows.decode(Int64.self) { return millis }
        return 0
    }

    static func insured(_ system: SyncSystem, _ deal: String) -> MasterDealSimulator.JSONValue? {
        system.masterDeal.allDeals().first { $0.id == deal }?.attributes["insured"]
    }

    static func deal(_ system: SyncSystem, named name: String) -> MasterDealSimulator.Deal? {
        system.masterDeal.allDeals().first { $0.opportunityName == name }
    }

    /// The same with a Bitrix24 yes/no user field, which stores 1 or 0.
    @Test func aBitrix24YesNoUserFieldReachesMasterDealAndBack() async throws {
        var options = SyncSystem.Options()
        options.fitnessExtraFields = "  medical: {master: attributes.medical_ok, crm: UF_CRM_MEDICAL, transform: boolean, conflict: lww}\n"
        options.bitrix = { $0.userFields.append(.init(id: 9_101, name: "UF_CRM_MEDICAL", kind: .boolean, label: "Справка от врача")) }
        try await SyncSystem.run(options) { system in
            let deal = try system.masterDeal.createAsUser(
                .object([
                    "account_id": .string("acc-fitness"), "opportunity_name": .string("Группа, 8 занятий"), "stage": .string("lead"),
                    "owner_id": .string("u-maria"), "attributes": .object(["medical_ok": .bool(true)]),
                ])
            ).id
            try await system.eventually("the Bitrix24 deal says yes", timeout: .seconds(20)) {
                system.bitrix.allDeals().first { $0.originID == deal }?.userField("UF_CRM_MEDICAL") == "1"
            }
            let bitrixID = try #require(system.bitrix.allDeals().first { $0.originID == deal }).id
            try await system.eventually("the outbox is empty") { try await DeliveryFaultTests.openOutbox(system) == 0 }

            // The coach says no: MasterDeal's attribute becomes false.
            _ = system.bitrix.editAsSalesperson(dealID: bitrixID, userID: 12, fields: ["UF_CRM_MEDICAL": "N"])
            try await system.eventually("MasterDeal has medical_ok = false", timeout: .seconds(20)) {
                system.masterDeal.allDeals().first { $0.id == deal }?.attributes["medical_ok"] == .bool(false)
            }
            // MasterDeal says yes again: Bitrix24 stores 1.
            try system.masterDeal.editAsUser(id: deal, changes: .object(["attributes": .object(["medical_ok": .bool(true)])]))
            try await system.eventually("the Bitrix24 deal says yes again", timeout: .seconds(20)) {
                system.bitrix.deal(id: bitrixID)?.userField("UF_CRM_MEDICAL") == "1"
            }
        }
    }
}
