import DealSyncCore
import DealSyncSimulators
import DealSyncStore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Testing

/// `dealsync explain` on captured payloads, against a running system's database: it shows the decoding, the
/// mapping and what would be decided, and writes nothing.
@Suite(.serialized)
struct ExplainCommandTests {
    @Test func aCapturedWebhookIsExplainedFieldByFieldAndNothingIsWritten() async throws {
        var options = SyncSystem.Options()
        options.polling = false
        try await SyncSystem.run(options) { system in
            let deal = try system.masterDeal.createAsUser(
                .object([
                    "account_id": .string("acc-tour"), "opportunity_name": .string("Байкал"), "stage": .string("lead"),
                    "owner_id": .string("u-olga"),
                ]))
            try await system.eventually("the lead exists") { DeliveryFaultTests.lead(system, of: deal.id) != nil }
            try await system.eventually("the outbox is empty") { try await DeliveryFaultTests.openOutbox(system) == 0 }
            let lead = try #require(DeliveryFaultTests.lead(system, of: deal.id))
            system.amo.pauseWebhooks()
            _ = try system.amo.editAsSalesperson(
                leadID: lead.id, userID: 6_001_002,
                AmoLeadFields(name: "Байкал, зима", statusID: 7_001_004, pipelineID: 7_001_000))
            let body = try #require(system.amo.addWebhookBody(leadID: lead.id))
            let file = NSTemporaryDirectory() + "dealsync-explain-\(UUID().uuidString).form"
            try body.write(toFile: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: file) }
            let before = try await Self.counts(system)

            let explained = try await system.cli(["explain", "--connector", "tour", "--file", file])
            #expect(explained.status == 0, "\(explained.stdout)\(explained.stderr)")
            #expect(explained.stdout.contains("Байкал, зима"), "the decoded title")
            #expect(explained.stdout.contains("proposal"), "the stage mapped to the canonical one")
            #expect(explained.stdout.contains(deal.id), "the link found in the database")
            #expect(try await Self.counts(system) == before, "explain writes nothing")
            #expect(system.masterDeal.deal(id: deal.id)?.opportunityName == "Байкал")

            let json = try await system.cli(["explain", "--connector", "tour", "--file", file, "--json"])
            #expect(json.status == 0 && (try? JSONSerialization.jsonObject(with: Data(json.stdout.utf8))) != nil, "\(json.stdout)")

            try "leads[update][0][id]=not-a-number&garbage".write(toFile: file, atomically: true, encoding: .utf8)
            let broken = try await system.cli(["explain", "--connector", "tour", "--file", file])
            #expect(broken.status == 1, "\(broken.stdout)\(broken.stderr)")
            let unknown = try await system.cli(["explain", "--connector", "no-such-crm", "--file", file])
            #expect(unknown.status != 0 && unknown.stderr.contains("no-such-crm"), "\(unknown.stderr)")
            #expect(try await Self.counts(system) == before)
        }
    }

    /// Rows in the tables a decision would write to.
    static func counts(_ system: SyncSystem) async throws -> [Int] {
        var result: [Int] = []
        for table in ["inbox", "outbox", "divergence_log", "links"] {
            let rows = try await system.database.client.query(PostgresQuery(unsafeSQL: "SELECT count(*)::int FROM \(table)"))
            for try await count in rows.decode(Int.self) { result.append(count) }
        }
        return result
    }
}
