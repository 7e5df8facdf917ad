import DealSyncCore
import DealSyncStore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Testing

/// What the divergence log stores, read back column by column: a concurrent conflict with both values, both
/// stamps, the rule and the winner; a personal field's conflict masked; a value the stage matrix does not know; a
/// change on the wrong side of a one-way field; a CRM delete.
struct DivergenceRecordTests {
    typealias F = StoreFixtures
    let logger = TestPostgres.logger

    static let mapping = Mapping(
        name: "tour", crm: .amocrm, pipeline: 700, linkField: "custom_fields.900001",
        fields: [
            FieldMapping(name: "title", master: "opportunity_name", crm: "name", conflict: .lww),
            FieldMapping(name: "phone", master: "client_phone", crm: "custom_fields.900002", conflict: .lww, pii: true),
            FieldMapping(name: "stage", master: "stage", crm: "status", transform: .stage, conflict: .priority(.master)),
        ],
        stages: StageMatrix(entries: [.init(canonical: "lead", crm: [.init(key: "700:1")])]),
        owners: OwnerDirectory(entries: []))

    static let setup = F.setup(mapping)

    static func deal(title: String, phone: String, at seconds: Int64, version: Int64) -> Observation {
        Observation(
            connector: "masterdeal", side: .master, recordID: "md-1",
            fields: ["opportunity_name": .text(title), "client_phone": .text(phone), "stage": .text("lead")],
            stamp: SourceStamp(seconds: seconds, version: version), account: "acc-tour")
    }

    static func lead(title: String, phone: String, status: String = "700:1", at seconds: Int64) -> Observation {
        Observation(
            connector: "tour", side: .crm, recordID: "9001",
            fields: ["name": .text(title), "custom_fields.900002": .text(phone), "status": .text(status)],
            stamp: SourceStamp(seconds: seconds), linkedMasterID: "md-1")
    }

    struct Row: Equatable {
        var kind: String, deal: String?, connector: String, record: String?, field: String?
        var masterValue: String?, crmValue: String?, masterAt: Double?, crmAt: Double?
        var rule: String?, winner: String?, lineage: UUID
    }

    func rows(_ database: Database) async throws -> [Row] {
        let rows = try await database.client.query(
            """
            SELECT kind, master_deal_id, connector, record_id, field, master_value::text, crm_value::text,
                extract(epoch FROM master_at)::float8, extract(epoch FROM crm_at)::float8, rule, winner, lineage_id
            FROM divergence_log ORDER BY id
            """)
        var result: [Row] = []
        for try await (kind, deal, connector, record, field, master, crm, masterAt, crmAt, rule, winner, lineage) in rows.decode(
            (String, String?, String, String?, String?, String?, String?, Double?, Double?, String?, String?, UUID).self)
        {
            result.append(
                Row(
                    kind: kind, deal: deal, connector: connector, record: record, field: field, masterValue: master,
                    crmValue: crm, masterAt: masterAt, crmAt: crmAt, rule: rule, winner: winner, lineage: lineage))
        }
        return result
    }

    /// Each entry's `outcome` column, oldest first.
    func outcomes(_ database: Database) async throws -> [String] {
        var result: [String] = []
        for try await outcome in try await database.client.query("SELECT outcome FROM divergence_log ORDER BY id").decode(String.self) {
            result.append(outcome)
        }
        return result
    }

    func lineage(of key: String, _ database: Database) async throws -> UUID? {
        let rows = try await database.client.query("SELECT lineage_id FROM inbox WHERE dedupe_key = \(key)")
        for try await id in rows.decode(UUID.self) { return id }
        return nil
    }

    @Test func concurrentEditsAreLoggedWithBothValuesStampsRuleAndWinner() async throws {
        try await TestPostgres.withDatabase { database in
            let inbox = InboxStore(database: database, logger: logger)
            let processor = InboxProcessor(database: database, setup: Self.setup, logger: logger)
            // Linked and agreed: the lead names its deal, and the deal is seen.
            _ = try await inbox.record(F.item([Self.lead(title: "Сочи", phone: "+7 900 000-00-01", at: 1000)], key: "lead-1"))
            _ = try await inbox.record(F.item([Self.deal(title: "Сочи", phone: "+7 900 000-00-01", at: 1000, version: 1)], key: "deal-1"))
            try await F.drain(processor)
            #expect(try await rows(database).isEmpty, "nothing diverged yet")
            // Both sides change title and phone before either has seen the other's change.
            _ = try await inbox.record(
                F.item([Self.deal(title: "Сочи VIP", phone: "+7 900 000-00-02", at: 2000, version: 2)], key: "deal-2"))
            _ = try await inbox.record(F.item([Self.lead(title: "Сочи, 7 ночей", phone: "+7 900 000-00-03", at: 2001)], key: "lead-2"))
            try await F.drain(processor)

            let logged = try await rows(database)
            let conflicts = logged.filter { $0.kind == "conflict" }
            try #require(conflicts.count == 2, "one conflict per field both sides changed: \(logged)")
            let lineage = try #require(try await lineage(of: "lead-2", database))
            let title = try #require(conflicts.first { $0.field == "title" })
            #expect(
                title
                    == Row(
                        kind: "conflict", deal: "md-1", connector: "tour", record: "9001", field: "title",
                        masterValue: #"{"text": "Сочи VIP"}"#, crmValue: #"{"text": "Сочи, 7 ночей"}"#,
                        masterAt: 2000, crmAt: 2001, rule: "lww", winner: "crm", lineage: lineage))
            // A personal field's values never reach the log, only that it diverged and who won.
            let phone = try #require(conflicts.first { $0.field == "phone" })
            #expect(phone.rule == "lww" && phone.winner == "crm" && phone.masterAt == 2000 && phone.crmAt == 2001)
            for value in [phone.masterValue, phone.crmValue] {
                #expect(value != nil && !(value ?? "").contains("900"), "masked: \(value ?? "nil")")
            }
        }
    }

    @Test func aStageTheMatrixDoesNotKnowIsLoggedWithTheValueAndWhere() async throws {
        try await TestPostgres.withDatabase { database in
            let inbox = InboxStore(database: database, logger: logger)
            let processor = InboxProcessor(database: database, setup: Self.setup, logger: logger)
            _ = try await inbox.record(F.item([Self.lead(title: "Сочи", phone: "+7 1", at: 1000)], key: "lead-1"))
            _ = try await inbox.record(F.item([Self.deal(title: "Сочи", phone: "+7 1", at: 1000, version: 1)], key: "deal-1"))
            _ = try await inbox.record(F.item([Self.lead(title: "Сочи", phone: "+7 1", status: "700:77", at: 1500)], key: "lead-2"))
            try await F.drain(processor)
            let unmapped = try await rows(database).filter { $0.kind == "unmapped_value" }
            try #require(unmapped.count == 1)
            let lineage = try #require(try await lineage(of: "lead-2", database))
            #expect(unmapped[0].field == "stage" && unmapped[0].connector == "tour" && unmapped[0].record == "9001")
            #expect(unmapped[0].deal == "md-1" && unmapped[0].lineage == lineage)
            #expect(unmapped[0].crmValue?.contains("700:77") == true, "the value nobody mapped: \(unmapped[0])")
            #expect(unmapped[0].crmAt == 1500)
        }
    }

    @Test func aChangeOnTheWrongSideOfAOneWayFieldIsLoggedWithBothValuesAndWrittenBack() async throws {
        var mapping = Self.mapping
        mapping.fields.append(
            FieldMapping(name: "note", master: "attributes.sla_note", crm: "custom_fields.900006", direction: .masterToCRM))
        let setup = F.setup(mapping)
        try await TestPostgres.withDatabase { database in
            let inbox = InboxStore(database: database, logger: logger)
            let processor = InboxProcessor(database: database, setup: setup, logger: logger)
            var lead = Self.lead(title: "Сочи", phone: "+7 1", at: 1000)
            lead.fields["custom_fields.900006"] = .text("звонить после 18:00")
            var deal = Self.deal(title: "Сочи", phone: "+7 1", at: 1000, version: 1)
            deal.fields["attributes.sla_note"] = .text("звонить после 18:00")
            _ = try await inbox.record(F.item([lead], key: "lead-1"))
            _ = try await inbox.record(F.item([deal], key: "deal-1"))
            try await F.drain(processor)
            #expect(try await rows(database).isEmpty, "nothing diverged yet")
            lead.fields["custom_fields.900006"] = .text("не звонить")
            lead.stamp = SourceStamp(seconds: 2000)
            _ = try await inbox.record(F.item([lead], key: "lead-2"))
            try await F.drain(processor)

            let logged = try await rows(database)
            try #require(logged.count == 1, "\(logged)")
            let lineage = try #require(try await lineage(of: "lead-2", database))
            #expect(
                logged[0]
                    == Row(
                        kind: "one_way_violation", deal: "md-1", connector: "tour", record: "9001", field: "note",
                        masterValue: #"{"text": "звонить после 18:00"}"#, crmValue: #"{"text": "не звонить"}"#,
                        masterAt: 1000, crmAt: 2000, rule: "direction:master_to_crm", winner: "master", lineage: lineage))
            #expect(try await outcomes(database) == ["kept the master value and wrote it back to crm"])
            // And it is written back: the CRM gets MasterDeal's value again.
            let back = try await database.client.query(
                "SELECT count(*)::int8 FROM outbox WHERE target = 'tour' AND payload->'values' ? 'custom_fields.900006'")
            for try await count in back.decode(Int.self) { #expect(count == 1) }
        }
    }

    @Test func aLeadDeletedInTheCRMIsLoggedWithItsRuleAndWhatWasDone() async throws {
        try await TestPostgres.withDatabase { database in
            let inbox = InboxStore(database: database, logger: logger)
            let processor = InboxProcessor(database: database, setup: Self.setup, logger: logger)
            _ = try await inbox.record(F.item([Self.lead(title: "Сочи", phone: "+7 1", at: 1000)], key: "lead-1"))
            _ = try await inbox.record(F.item([Self.deal(title: "Сочи", phone: "+7 1", at: 1000, version: 1)], key: "deal-1"))
            try await F.drain(processor)
            var deleted = Self.lead(title: "Сочи", phone: "+7 1", at: 1500)
            deleted.action = .delete
            deleted.fields = [:]
            _ = try await inbox.record(F.item([deleted], key: "lead-deleted"))
            try await F.drain(processor)

            let logged = try await rows(database)
            try #require(logged.count == 1, "\(logged)")
            let lineage = try #require(try await lineage(of: "lead-deleted", database))
            #expect(
                logged[0]
                    == Row(
                        kind: "delete", deal: "md-1", connector: "tour", record: "9001", field: nil, masterValue: nil, crmValue: nil,
                        masterAt: nil, crmAt: 1500, rule: "on_delete:unlink", winner: nil, lineage: lineage))
            #expect(try await outcomes(database) == ["deleted in the CRM: link ended, the MasterDeal deal is kept"])
        }
    }
}
