import DealSyncCore
import Foundation
import Testing

struct FieldTransformerTests {
    typealias F = EngineFixtures

    func transformer(_ name: String, in mapping: Mapping = F.mapping) -> FieldTransformer {
        FieldTransformer(field: mapping.field(named: name)!, mapping: mapping)
    }

    static let bitrix = Mapping(
        name: "fit", crm: .bitrix24, pipeline: 2, linkField: "ORIGIN_ID",
        fields: [
            FieldMapping(name: "amount", master: "amount", crm: "OPPORTUNITY", transform: .money(fixedCurrency: nil)),
            FieldMapping(name: "due", master: "sla_due_at", crm: "CLOSEDATE", transform: .timestamp),
            FieldMapping(name: "sessions", master: "attributes.sessions", crm: "UF_CRM_SESSIONS", transform: .number),
        ],
        stages: StageMatrix(entries: [.init(canonical: "lead", crm: [.init(key: "C2:NEW")])]), owners: OwnerDirectory(entries: []))

    @Test(arguments: [
        ("1500.50", Int64(1501)), ("1500.49", Int64(1500)), ("0", Int64(0)), ("99999999.5", Int64(100_000_000)),
    ])
    func masterDealMoneyToAmoCRMPriceRoundsHalfUp(amount: String, price: Int64) {
        let t = transformer("amount")
        #expect(t.toCRM(F.rub(amount)) == .success(.integer(price)))
        #expect(t.agrees(.integer(price), on: .crm, with: F.rub(amount)))
        #expect(t.toMaster(.integer(price)) == .success(F.rub(String(price))))
    }

    @Test func amoCRMCannotHoldAnotherCurrency() {
        let result = transformer("amount").toCRM(.money(Money(amount: 10, currency: "EUR")))
        #expect((try? result.get()) == nil)
    }

    @Test func bitrixMoneyKeepsCentsAndCurrency() {
        let t = transformer("amount", in: Self.bitrix)
        let money = FieldValue.money(Money(amount: Decimal(string: "15000.5")!, currency: "RUB"))
        #expect(t.toCRM(money) == .success(money))
        #expect(t.crmValue(in: ["OPPORTUNITY": .money(Money(amount: Decimal(string: "15000.50")!, currency: "RUB"))]) == money)
        #expect(t.toMaster(money) == .success(money))
    }

    @Test func timestampsRoundTripBetweenISOAndUnixSeconds() {
        let amo = transformer("sla")
        #expect(amo.masterValue(in: ["sla_due_at": .text("2026-12-01T18:00:00+03:00")]) == .time(1_796_137_200))
        #expect(amo.crmValue(in: ["custom_fields.900002": .text("1796137200")]) == .time(1_796_137_200))
        let b24 = transformer("due", in: Self.bitrix)
        #expect(b24.crmValue(in: ["CLOSEDATE": .text("2026-12-01T18:00:00+03:00")]) == .time(1_796_137_200))
        #expect(b24.toCRM(.time(1_796_137_200)) == .success(.time(1_796_137_200)))
    }

    @Test func numbersFromStringsCompareExactly() {
        let t = transformer("sessions", in: Self.bitrix)
        #expect(t.crmValue(in: ["UF_CRM_SESSIONS": .text("12")]) == .decimal(12))
        #expect(t.masterValue(in: ["attributes.sessions": .integer(12)]) == .decimal(12))
        #expect(t.crmValue(in: ["UF_CRM_SESSIONS": .text("")]) == .null)
    }

    @Test func yesNoIsReadInEveryFormTheSystemsUseAndUnsetIsNo() {
        let t = FieldTransformer(
            field: FieldMapping(name: "insured", master: "attributes.insured", crm: "custom_fields.900007", transform: .boolean),
            mapping: F.mapping)
        #expect(t.masterValue(in: ["attributes.insured": .bool(true)]) == .bool(true))
        #expect(t.masterValue(in: ["attributes.insured": .null]) == .bool(false))
        #expect(t.crmValue(in: ["custom_fields.900007": .bool(true)]) == .bool(true), "amoCRM API v4")
        #expect(t.crmValue(in: ["custom_fields.900007": .text("0")]) == .bool(false), "amoCRM webhook")
        #expect(t.crmValue(in: ["custom_fields.900007": .text("1")]) == .bool(true), "amoCRM webhook, Bitrix24")
        #expect(t.crmValue(in: ["custom_fields.900007": .text("Y")]) == .bool(true), "Bitrix24")
        #expect(t.crmValue(in: ["custom_fields.900007": .text("")]) == .bool(false))
        #expect(t.absent(on: .crm) == .bool(false) && t.absent(on: .master) == .bool(false), "an unticked box left out of a record")
        #expect(t.toCRM(.bool(true)) == .success(.bool(true)))
        #expect(t.toCRM(.null) == .success(.bool(false)))
        #expect(t.toMaster(.null) == .success(.bool(false)))
        #expect(t.agrees(.bool(false), on: .crm, with: .bool(false)))
        #expect(!t.agrees(.bool(true), on: .crm, with: .bool(false)))
        // Anything else does not fit, and is reported rather than guessed.
        #expect(t.crmValue(in: ["custom_fields.900007": .text("maybe")]) == .text("maybe"))
        #expect((try? t.toMaster(.text("maybe")).get()) == nil)
        #expect((try? t.toCRM(.text("yes please")).get()) == nil)
        // A checkbox mapped as plain text still reads as text.
        let text = FieldTransformer(
            field: FieldMapping(name: "note", master: "attributes.note", crm: "custom_fields.900007"), mapping: F.mapping)
        #expect(text.crmValue(in: ["custom_fields.900007": .bool(true)]) == .text("true"))
    }

    @Test func enumValuesMapBothWaysAndUnknownOnesAreReported() {
        let t = transformer("tour_type")
        #expect(t.toCRM(.text("ski")) == .success(.text("502")))
        #expect(t.toMaster(.text("501")) == .success(.text("beach")))
        #expect((try? t.toMaster(.text("999")).get()) == nil)
        #expect((try? t.toCRM(.text("cruise")).get()) == nil)
    }

    @Test func stagesCollapseAndOwnersGoThroughTheDirectory() {
        let stage = transformer("stage")
        #expect(stage.toCRM(.text("qualified")) == .success(F.stage(2)))
        #expect(stage.toMaster(F.stage(3)) == .success(.text("qualified")))
        #expect(stage.agrees(F.stage(3), on: .crm, with: .text("qualified")))
        #expect(!stage.agrees(F.stage(1), on: .crm, with: .text("qualified")))
        let owner = transformer("owner")
        #expect(owner.crmValue(in: ["responsible_user_id": .integer(502)]) == .text("502"))
        #expect(owner.toMaster(.text("502")) == .success(.text("u-ivan")))
        #expect((try? owner.toCRM(.text("u-nobody")).get()) == nil)
    }
}
