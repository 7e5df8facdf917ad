import DealSyncCore
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Testing

/// `scope:` end to end: the tour mapping takes open leads only; a won lead is not created in MasterDeal until
/// it moves back into an open stage.
@Suite(.serialized)
struct ScopeTests {
    static func processedRows(_ system: SyncSystem, mentioning leadID: Int) async throws -> Int {
        let rows = try await system.database.client.query(
            "SELECT count(*)::int8 FROM inbox WHERE connector = 'tour' AND status <> 'pending' AND position(\(String(leadID)) in convert_from(body, 'UTF8')) > 0"
        )
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    @Test func aLeadOutsideTheScopeIsNotCreatedUntilItMovesIntoIt() async throws {
        var options = SyncSystem.Options()
        options.tourExtraFields = "scope: {stages: [lead, qualified, proposal]}\n"
        try await SyncSystem.run(options) { system in
            let won = try system.amo.createAsSalesperson(
                userID: 6_001_001, AmoLeadFields(name: "Продано: Кипр", price: 90_000, statusID: 7_001_006, pipelineID: 7_001_000))
            let open = try system.amo.createAsSalesperson(
                userID: 6_001_001, AmoLeadFields(name: "Открыт: Сочи", price: 50_000, statusID: 7_001_001, pipelineID: 7_001_000))
            try await system.eventually("the open lead becomes a deal and the won lead's change has been decided") {
                let decided = try await Self.processedRows(system, mentioning: won.id)
                return decided > 0 && system.masterDeal.allDeals().contains { $0.opportunityName == "Открыт: Сочи" }
            }
            #expect(system.masterDeal.allDeals().map(\.opportunityName) == ["Открыт: Сочи"])
            #expect(open.id != won.id)

            // `dealsync explain` says why the won lead is left alone.
            let body = try #require(system.amo.addWebhookBody(leadID: won.id))
            let file = NSTemporaryDirectory() + "dealsync-scope-\(UUID().uuidString).form"
            try body.write(toFile: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: file) }
            let explained = try await system.cli(["explain", "--connector", "tour", "--file", file])
            #expect(explained.status == 0, "\(explained.stdout)\(explained.stderr)")
            #expect(explained.stdout.contains("outside the mapping's scope, so no MasterDeal deal would be created"), "\(explained.stdout)")

            _ = try system.amo.editAsSalesperson(
                leadID: won.id, userID: 6_001_001, AmoLeadFields(statusID: 7_001_002, pipelineID: 7_001_000))
            try await system.eventually("the lead joins once it is open again") {
                system.masterDeal.allDeals().contains { $0.opportunityName == "Продано: Кипр" && $0.stage == "qualified" }
            }
            #expect(system.masterDeal.allDeals().count == 2)
        }
    }
}
