import DealSyncCore
import DealSyncGateway
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import Testing

/// Onboarding a Bitrix24 portal that already holds a funnel's deals: read with `batch` calls of 50 list pages,
/// matched by title and manager, through the real gateway and PostgreSQL.
@Suite(.timeLimit(.minutes(3))) struct Bitrix24OnboardingTests {
    static let matchingYAML = """
        matching:
          keys:
            - {fields: [title, owner]}

        """

    @Test func aPortalsFunnelIsReadInBatchesMatchedAndLinked() async throws {
        var options = SyncSystem.Options()
        // `matching:` is a top-level key: it follows the fields the option adds.
        options.fitnessExtraFields = "\n" + Self.matchingYAML
        try await SyncSystem.run(options) { system in
            let past = Int(Date().timeIntervalSince1970) - 86_400 * 400
            var deals: [Bitrix24Simulator.HistoricDeal] = []
            for index in 0..<120 {
                deals.append(
                    .init(
                        fields: [
                            "TITLE": "Абонемент #\(index)", "CATEGORY_ID": "2", "STAGE_ID": "C2:NEW",
                            "ASSIGNED_BY_ID": index % 2 == 0 ? "12" : "15",
                            "OPPORTUNITY": "5000", "CURRENCY_ID": "RUB",
                        ], userID: 12, modifiedAt: past + index * 3_600))
            }
            // Another funnel's deals are not this connector's: they are not read.
            for index in 0..<5 {
                deals.append(
                    .init(
                        fields: ["TITLE": "Другая воронка \(index)", "CATEGORY_ID": "0", "ASSIGNED_BY_ID": "12"], userID: 12,
                        modifiedAt: past))
            }
            system.bitrix.seedHistory(deals)
            var history: [(fields: MasterDealSimulator.JSONValue, updatedAtMillis: Int64)] = []
            func deal(_ id: String, _ name: String, owner: String) {
                history.append(
                    (
                        .object([
                            "id": .string(id), "account_id": .string("acc-fitness"), "opportunity_name": .string(name),
                            "stage": .string("lead"), "owner_id": .string(owner),
                        ]), Int64(past) * 1000
                    ))
            }
            // The same title written otherwise (case, spaces) with the same manager: a pair.
            for index in 0..<60 { deal("md-fit-\(index)", "  АБОНЕМЕНТ   #\(index) ", owner: index % 2 == 0 ? "u-maria" : "u-igor") }
            // Two deals for each of five deals: ambiguous.
            for index in 60..<65 {
                for copy in ["a", "b"] {
                    deal("md-fit-\(index)\(copy)", "Абонемент #\(index)", owner: index % 2 == 0 ? "u-maria" : "u-igor")
                }
            }
            for index in 0..<10 { deal("md-fit-own-\(index)", "Только в MasterDeal \(index)", owner: "u-maria") }
            try system.masterDeal.seedHistory(history)

            let onboarder = try Onboarder(
                configuration: system.configuration, registry: system.gateway.registry,
                store: OnboardingStore(context: system.gateway.sync), connector: "fitness")
            let reading = try await onboarder.read()
            #expect(reading.calls[.crm] == 2, "the first page, then one batch of the other two pages")
            let (plan, _) = try await onboarder.plan(reading)
            #expect(plan.read[.crm] == 120)
            #expect(plan.linkedByKey == 60)
            #expect(plan.ambiguous.count { $0.side == .crm } == 5 && plan.ambiguous.count { $0.side == .master } == 10)
            #expect(plan.createInMaster.count == 55 && plan.createInCRM.count == 10)

            let (run, done) = try await onboarder.apply(plan, reading: reading, actor: "test")
            #expect(done.linked == 60 && done.createdInMaster == 55 && done.createdInCRM == 10)
            try await system.eventually("the run's writes are delivered", timeout: .seconds(60)) {
                let progress = try await onboarder.store.progress(of: run)
                return progress.waiting == 0 && progress.delivered > 0
            }
            let funnel = system.bitrix.allDeals().filter { $0.categoryID == 2 }
            #expect(funnel.count == 130)
            let origins = funnel.compactMap { $0.originID.flatMap { $0.isEmpty ? nil : $0 } }
            #expect(origins.count == 125, "every deal but the five ambiguous ones carries its MasterDeal deal")
            #expect(Set(origins).count == origins.count)
            #expect(system.masterDeal.allDeals().count == history.count + 55)
        }
    }
}
