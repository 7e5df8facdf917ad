import DealSyncCore
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Testing

/// A salesperson edits a lead while someone edits another field of the same deal in MasterDeal: dealsync's
/// write carries the version it knew, MasterDeal refuses it with 412, and the edit must still reach MasterDeal,
/// at once, not when the reconciler notices the drift (it is switched off here).
@Suite(.serialized)
struct RefusedWriteGatewayTests {
    /// Polling is off, so MasterDeal's amount edit (which sends no event) is not known when the lead's change
    /// is written: the write is certain to go with the old version.
    static let options: SyncSystem.Options = {
        var options = SyncSystem.Options()
        options.polling = false
        options.amoExtraYAML = """
            delivery: {backoff_base: 100ms, backoff_cap: 1s, max_attempts: 6}
            reconcile: {enabled: false}
            """
        return options
    }()

    /// A deal created in MasterDeal, its lead created in amoCRM, both settled; returns (deal id, lead id).
    static func settledDeal(_ system: SyncSystem, name: String) async throws -> (String, Int) {
        let deal = try system.masterDeal.createAsUser(
            .object([
                "account_id": .string("acc-tour"), "opportunity_name": .string(name), "stage": .string("lead"),
                "amount": .string("150000.00"), "currency": .string("RUB"), "owner_id": .string("u-olga"),
            ]))
        try await system.eventually("the lead exists in amoCRM, linked") {
            system.amo.allLeads(includingDeleted: false).contains { $0.name == name && $0.values(ofField: 900_001) == [deal.id] }
        }
        try await system.eventually("nothing is left to write") { try await Self.openWrites(system) == 0 }
        let lead = try #require(system.amo.allLeads(includingDeleted: false).first { $0.name == name })
        return (deal.id, lead.id)
    }

    static func openWrites(_ system: SyncSystem) async throws -> Int {
        let rows = try await system.database.client.query("SELECT count(*)::int8 FROM outbox WHERE status IN ('pending', 'in_flight')")
        for try await count in rows.decode(Int.self) { return count }
        return -1
    }

    static func refusals(_ system: SyncSystem) -> Int {
        system.masterDeal.stats.requests("PATCH /v1/deals/{id}", status: 412)
    }

    @Test(.timeLimit(.minutes(2)))
    func aRenameRefusedBecauseTheAmountChangedStillReachesMasterDeal() async throws {
        try await SyncSystem.run(Self.options) { system in
            let (dealID, leadID) = try await Self.settledDeal(system, name: "Сочи, 7 ночей")
            #expect(Self.refusals(system) == 0)

            // 2. The amount changes in MasterDeal; dealsync does not know yet.
            try system.masterDeal.editAsUser(id: dealID, changes: .object(["amount": .string("180000.00")]))
            // 3. A salesperson renames the lead.
            _ = try system.amo.editAsSalesperson(leadID: leadID, userID: 6_001_002, AmoLeadFields(name: "Сочи, 10 ночей"))

            // 4. The rename goes with the old version and is refused.
            try await system.eventually("MasterDeal refused the stale write") { Self.refusals(system) >= 1 }
            // 5. It is written again on the deal as it is now; the amount reaches amoCRM on the way.
            do {
                try await system.eventually("both sides hold both edits", timeout: .seconds(15)) {
                    system.masterDeal.deal(id: dealID)?.opportunityName == "Сочи, 10 ночей"
                        && system.amo.lead(id: leadID)?.price == 180_000 && system.amo.lead(id: leadID)?.name == "Сочи, 10 ночей"
                }
            } catch {
                print(try await system.dump())
                throw error
            }
            #expect(system.masterDeal.deal(id: dealID)?.amount == "180000.00", "MasterDeal's own edit is kept")
            try await system.eventually("everything written settles") { try await Self.openWrites(system) == 0 }
            let entries = try await system.database.client.query(
                "SELECT count(*)::int8 FROM divergence_log WHERE kind = 'conflict'")
            for try await count in entries.decode(Int.self) { #expect(count == 0, "two fields, two edits: no conflict") }
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aStageMoveRefusedBecauseTheAmountChangedStillReachesMasterDeal() async throws {
        try await SyncSystem.run(Self.options) { system in
            let (dealID, leadID) = try await Self.settledDeal(system, name: "Домбай, 5 ночей")

            try system.masterDeal.editAsUser(id: dealID, changes: .object(["amount": .string("99000.00")]))
            // "Предложение" maps to the canonical proposal stage; stage has repair: auto.
            _ = try system.amo.editAsSalesperson(
                leadID: leadID, userID: 6_001_002,
                AmoLeadFields(statusID: 7_001_004, pipelineID: 7_001_000))

            try await system.eventually("MasterDeal refused the stale write") { Self.refusals(system) >= 1 }
            do {
                try await system.eventually("both sides hold both edits", timeout: .seconds(15)) {
                    system.masterDeal.deal(id: dealID)?.stage == "proposal" && system.amo.lead(id: leadID)?.price == 99_000
                        && system.amo.lead(id: leadID)?.statusID == 7_001_004
                }
            } catch {
                print(try await system.dump())
                throw error
            }
        }
    }

    /// Both sides renamed the deal: the refused write's field meets its rule (title is last-write-wins, and the
    /// salesperson's rename came later), and the conflict is in the divergence log with both values.
    @Test(.timeLimit(.minutes(2)))
    func aRenameRefusedBecauseMasterDealRenamedItToo() async throws {
        try await SyncSystem.run(Self.options) { system in
            let (dealID, leadID) = try await Self.settledDeal(system, name: "Анталья, 7 ночей")

            // A rename sends no event: dealsync does not know of it when the salesperson's rename is written.
            try system.masterDeal.editAsUser(id: dealID, changes: .object(["opportunity_name": .string("Анталья, 14 ночей")]))
            try await Task.sleep(for: .milliseconds(1100))  // amoCRM's clock counts seconds: its rename is later
            _ = try system.amo.editAsSalesperson(leadID: leadID, userID: 6_001_002, AmoLeadFields(name: "Анталья, 9 ночей"))

            try await system.eventually("the rename is refused and both sides agree", timeout: .seconds(15)) {
                Self.refusals(system) >= 1 && system.masterDeal.deal(id: dealID)?.opportunityName == "Анталья, 9 ночей"
                    && system.amo.lead(id: leadID)?.name == "Анталья, 9 ночей"
            }
            let rows = try await system.database.client.query(
                """
                SELECT field, master_value::text, crm_value::text, rule, winner FROM divergence_log WHERE kind = 'conflict'
                """)
            var conflicts: [(String, String, String, String, String)] = []
            for try await row in rows.decode((String, String, String, String, String).self) { conflicts.append(row) }
            #expect(conflicts.count == 1)
            let conflict = try #require(conflicts.first)
            #expect(conflict.0 == "title" && conflict.3 == "lww" && conflict.4 == "crm")
            #expect(conflict.1.contains("Анталья, 14 ночей") && conflict.2.contains("Анталья, 9 ночей"))
        }
    }
}
