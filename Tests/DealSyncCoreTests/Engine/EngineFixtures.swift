import DealSyncCore
import Foundation

/// A small tour-agency mapping built in code, and helpers to drive the record decider.
enum EngineFixtures {
    static let pipeline: Int64 = 700

    static func stage(_ status: Int64) -> FieldValue { .text(StageMatrix.amoKey(pipeline: pipeline, status: status)) }

    static let mapping = Mapping(
        name: "tour", crm: .amocrm, pipeline: Int(pipeline), linkField: "custom_fields.900001",
        deletes: .unlink,
        fields: [
            FieldMapping(name: "title", master: "opportunity_name", crm: "name", conflict: .lww),
            FieldMapping(
                name: "amount", master: "amount", crm: "price", transform: .money(fixedCurrency: "RUB"),
                conflict: .priority(.master)),
            FieldMapping(name: "stage", master: "stage", crm: "status", transform: .stage, conflict: .priority(.master)),
            FieldMapping(name: "owner", master: "owner_id", crm: "responsible_user_id", transform: .owner, conflict: .lww),
            FieldMapping(
                name: "sla", master: "sla_due_at", crm: "custom_fields.900002", transform: .timestamp,
                direction: .masterToCRM, conflict: .priority(.master)),
            FieldMapping(
                name: "phone", master: "attributes.phone", crm: "custom_fields.900003", direction: .crmToMaster,
                conflict: .priority(.crm), pii: true),
            FieldMapping(
                name: "tour_type", master: "attributes.tour_type", crm: "custom_fields.900004",
                transform: .enumeration(["beach": "501", "ski": "502"]), conflict: .lww),
        ],
        stages: StageMatrix(entries: [
            .init(canonical: "lead", crm: [.init(key: "700:1", name: "Новый лид")]),
            .init(canonical: "qualified", crm: [.init(key: "700:2", name: "Квалификация"), .init(key: "700:3", name: "Прогрев")]),
            .init(canonical: "won", crm: [.init(key: "700:142", name: "Продажа")]),
            .init(canonical: "lost", crm: [.init(key: "700:143")]),
        ]),
        owners: OwnerDirectory(entries: [.init(master: "u-olga", crm: "501"), .init(master: "u-ivan", crm: "502")]))

    static let decider = RecordDecider(mapping: mapping, crmConnector: "tour", masterConnector: "masterdeal")

    static func rub(_ text: String) -> FieldValue { .money(Money(amount: Decimal(string: text)!, currency: "RUB")) }

    static let masterRecord: [String: FieldValue] = [
        "opportunity_name": .text("Сочи, 7 ночей"), "amount": rub("150000.50"), "stage": .text("lead"),
        "owner_id": .text("u-olga"), "sla_due_at": .time(1_767_200_000), "attributes.tour_type": .text("beach"),
    ]

    static let crmRecord: [String: FieldValue] = [
        "name": .text("Сочи, 7 ночей"), "price": .integer(150_001), "status": stage(1), "responsible_user_id": .integer(501),
        "custom_fields.900002": .text("1767200000"), "custom_fields.900004": .text("501"),
    ]

    static func master(_ fields: [String: FieldValue], at seconds: Int64, version: Int64) -> Observation {
        Observation(
            connector: "masterdeal", side: .master, recordID: "md-1", fields: fields,
            stamp: SourceStamp(seconds: seconds, version: version), account: "acc-tour")
    }

    static func crm(_ fields: [String: FieldValue], at seconds: Int64, action: Observation.Action = .upsert) -> Observation {
        Observation(
            connector: "tour", side: .crm, recordID: "9001", action: action, fields: fields,
            stamp: SourceStamp(seconds: seconds))
    }

    /// A link created from MasterDeal whose create has landed and echoed: both sides hold the record.
    static func settledLink() -> LinkSnapshot {
        var link = LinkSnapshot(linkID: 1, masterDealID: "md-1", recordID: nil)
        let created = decider.createInCRM(from: master(masterRecord, at: 1000, version: 1), link: link, cause: "inbox:1:0")
        link.fields = created.fields
        link.recordID = "9001"
        let key = created.writes[0].idempotencyKey
        let confirmed = decider.confirmed(key: key, on: .crm, landedAt: SourceStamp(seconds: 1001), link: link, cause: "c")
        link.fields = confirmed.fields
        let echo = decider.decide(crm(crmRecord, at: 1001), link: link, cause: "inbox:2:0")
        link.fields = echo.fields
        return link
    }

    static func applying(_ decision: RecordDecision, to link: LinkSnapshot) -> LinkSnapshot {
        var copy = link
        copy.fields = decision.fields
        if decision.linkChange == .unlink { copy.isActive = false }
        if decision.linkChange == .relink { copy.isActive = true }
        return copy
    }
}
