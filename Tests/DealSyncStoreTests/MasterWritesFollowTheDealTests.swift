import DealSyncCore
import DealSyncStore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Testing

/// A lead new to MasterDeal is linked before its deal exists: the writes queued for the deal meanwhile are keyed by
/// the link, and once the create's answer names the deal they follow it. (Finding those writes reads the outbox
/// through `outbox_by_link`, link by link: `SavePlanTests`.)
struct MasterWritesFollowTheDealTests {
    typealias F = StoreFixtures
    let logger = TestPostgres.logger

    @Test func writesQueuedBeforeTheDealExistedTakeItsIDWhenTheCreateIsConfirmed() async throws {
        try await TestPostgres.withDatabase { database in
            let inbox = InboxStore(database: database, logger: logger)
            let processor = InboxProcessor(database: database, setup: F.setup, logger: logger)
            let outcomes = DeliveryOutcomes(context: SyncContext(database: database, setup: F.setup, logger: logger))
            try await MasterCreateEchoTests.withCreateInFlight(database) { create in
                // The lead is renamed while its deal's create is in flight: the rename waits for the deal.
                _ = try await inbox.record(F.item([F.lead(title: "Сочи, 7 ночей", at: 1010, master: nil)], key: "lead-1-renamed"))
                let steps = try await F.drain(processor)
                #expect(steps.count == 1)
                guard case .processed(inboxID: 2, writes: 1, _)? = steps.first else {
                    Issue.record("the rename was not decided into one write: \(steps)")
                    return
                }
                #expect(
                    try await F.count(
                        "outbox", where: "target = 'masterdeal' AND operation = 'update' AND status = 'pending' AND master_deal_id IS NULL",
                        in: database) == 1)

                #expect(
                    try await outcomes.delivered(
                        create, recordID: "md-1", landedAt: SourceStamp(seconds: 1001, version: 1),
                        attempt: AttemptRecord(status: 201, errorClass: "delivered", detail: "", worker: "host:101")))
            }
            #expect(try await F.count("outbox", where: "target = 'masterdeal'", in: database) == 2)
            #expect(
                try await F.count("outbox", where: "target = 'masterdeal' AND master_deal_id = 'md-1'", in: database) == 2,
                "the confirmed create and the rename queued behind it both name the deal")
            #expect(
                try await F.count("outbox", where: "target = 'masterdeal' AND operation = 'create' AND status = 'done'", in: database) == 1)
        }
    }
}
