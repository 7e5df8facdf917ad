import DealSyncCore
import DealSyncStore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Synchronization
import Testing

/// Batched inbox processing: many rows per transaction, in order per record, one bad row never holding the
/// others back, two processes never deciding a row twice.
struct InboxBatchTests {
    typealias F = StoreFixtures
    let logger = TestPostgres.logger

    /// The outbox's writes (operation, the title they carry) matching `condition`, in the order they were decided.
    static func writes(in database: Database, where condition: String = "true") async throws -> [(String, String?)] {
        let rows = try await database.client.query(
            PostgresQuery(unsafeSQL: "SELECT operation, payload->'values'->'name'->>'text' FROM outbox WHERE \(condition) ORDER BY id"))
        var writes: [(String, String?)] = []
        for try await row in rows.decode((String, String?).self) { writes.append(row) }
        return writes
    }

    /// One record's rows in one batch are decided in order, each seeing what the one before did.
    @Test func rowsOfOneRecordAreDecidedInOrderWithinABatch() async throws {
        try await TestPostgres.withDatabase { database in
            let inbox = InboxStore(database: database, logger: logger)
            _ = try await inbox.record(F.item([F.deal(title: "Сочи", at: 1000, version: 1)], key: "e1"))
            _ = try await inbox.record(F.item([F.deal(title: "Сочи, 7 ночей", at: 1010, version: 2)], key: "e2"))
            _ = try await inbox.record(F.item([F.deal(title: "Сочи, 10 ночей", at: 1020, version: 3)], key: "e3"))
            let processor = InboxProcessor(database: database, setup: F.setup, logger: logger)
            let steps = try await processor.processBatch(connector: "masterdeal", limit: 200, decode: F.decode)
            #expect(
                steps == [
                    .processed(inboxID: 1, writes: 1, entries: 0), .processed(inboxID: 2, writes: 1, entries: 0),
                    .processed(inboxID: 3, writes: 1, entries: 0),
                ])
            // The create first, then each rename on top of it, in order: the last write carries the last title.
            let writes = try await Self.writes(in: database)
            #expect(writes.map(\.0) == ["create", "update", "update"])
            #expect(writes.map(\.1) == ["Сочи", "Сочи, 7 ночей", "Сочи, 10 ночей"])
            #expect(try await F.count("links", in: database) == 1)
        }
    }

    /// A row whose data breaks the transaction (a title PostgreSQL cannot store in jsonb) is put back alone; the
    /// rows around it go through.
    @Test func aPoisonRowInABatchIsPutBackAloneAndTheOthersGoThrough() async throws {
        try await TestPostgres.withDatabase { database in
            let inbox = InboxStore(database: database, logger: logger)
            _ = try await inbox.record(F.item([F.deal("md-1", title: "Сочи", at: 1000, version: 1)], key: "e1"))
            _ = try await inbox.record(F.item([F.deal("md-2", title: "Бали\u{0}", at: 1000, version: 1)], key: "e2"))
            _ = try await inbox.record(F.item([F.deal("md-3", title: "Анталья", at: 1000, version: 1)], key: "e3"))
            let processor = InboxProcessor(database: database, setup: F.setup, logger: logger)
            let steps = try await processor.processBatch(connector: "masterdeal", limit: 200, decode: F.decode)
            #expect(steps.count == 3)
            #expect(steps.first == .processed(inboxID: 1, writes: 1, entries: 0))
            #expect(steps.last == .processed(inboxID: 3, writes: 1, entries: 0))
            guard case .failed(inboxID: 2, _)? = steps.dropFirst().first else {
                Issue.record("expected the poison row to fail alone, got \(steps)")
                return
            }
            #expect(try await F.count("links", where: "master_deal_id IN ('md-1', 'md-3')", in: database) == 2)
            #expect(try await F.count("links", where: "master_deal_id = 'md-2'", in: database) == 0, "nothing half-written")
            #expect(
                try await F.count("inbox", where: "id = 2 AND status = 'pending' AND attempts = 1 AND error IS NOT NULL", in: database) == 1
            )
        }
    }

    /// A row that cannot be decoded is failed alone, in the same transaction as the rows it was claimed with.
    @Test func anUndecodableRowIsFailedAlone() async throws {
        try await TestPostgres.withDatabase { database in
            let inbox = InboxStore(database: database, logger: logger)
            _ = try await inbox.record(F.item([F.deal("md-1", title: "Сочи", at: 1000, version: 1)], key: "e1"))
            _ = try await inbox.record(InboxItem(connector: "masterdeal", dedupeKey: "e2", source: .webhook, body: Data("not json".utf8)))
            let processor = InboxProcessor(database: database, setup: F.setup, logger: logger)
            let steps = try await processor.processBatch(connector: "masterdeal", limit: 200, decode: F.decode)
            #expect(steps.count == 2)
            #expect(steps.first == .processed(inboxID: 1, writes: 1, entries: 0))
            guard case .failed(inboxID: 2, _)? = steps.last else {
                Issue.record("expected the undecodable row to fail, got \(steps)")
                return
            }
            #expect(try await F.count("inbox", where: "id = 2 AND status = 'failed'", in: database) == 1)
        }
    }

    /// A lane's claim takes only its own connector's rows, however many another lane has waiting.
    @Test func aLaneClaimsOnlyItsOwnRows() async throws {
        try await TestPostgres.withDatabase { database in
            let inbox = InboxStore(database: database, logger: logger)
            let burst = try (0..<300).map {
                try F.item([F.lead("\(10_000 + $0)", title: "Лид \($0)", at: 1000, master: nil)], key: "lead-\($0)")
            }
            _ = try await inbox.record(burst)
            _ = try await inbox.record(F.item([F.deal("md-9", title: "Сочи", at: 1000, version: 1)], key: "deal-9"))
            let processor = InboxProcessor(database: database, setup: F.setup, logger: logger)
            let steps = try await processor.processBatch(connector: "masterdeal", limit: 200, decode: F.decode)
            #expect(steps == [.processed(inboxID: 301, writes: 1, entries: 0)], "the deal is decided without waiting for the 300 leads")
            #expect(try await F.count("inbox", where: "connector = 'tour' AND status = 'pending'", in: database) == 300)
        }
    }

    /// Two processes work the same lane at once: every row is decided exactly once, and nothing twice.
    @Test func twoProcessesClaimingAtOnceDecideEveryRowOnce() async throws {
        try await TestPostgres.withDatabase { database in
            let inbox = InboxStore(database: database, logger: logger)
            let deals = try (0..<400).map {
                try F.item([F.deal("md-\($0)", title: "Сделка \($0)", at: 1000, version: 1)], key: "deal-\($0)")
            }
            _ = try await inbox.record(deals)
            let processor = InboxProcessor(database: database, setup: F.setup, logger: logger)
            let (first, second) = try await withThrowingTaskGroup(of: [InboxProcessor.Step].self) { group in
                for worker in ["host:1", "host:2"] {
                    group.addTask {
                        var steps: [InboxProcessor.Step] = []
                        while true {
                            let batch = try await processor.processBatch(
                                connector: "masterdeal", limit: 50, decode: F.decode, worker: worker)
                            if batch.isEmpty { return steps }
                            steps += batch
                        }
                    }
                }
                let a = try await group.next() ?? [], b = try await group.next() ?? []
                return (a, b)
            }
            let decided = (first + second).compactMap { step -> Int64? in
                if case .processed(let id, 1, 0) = step { id } else { nil }
            }
            #expect(decided.count == 400 && Set(decided).count == 400, "\(first.count) + \(second.count) steps")
            #expect(try await F.count("links", in: database) == 400)
            #expect(try await F.count("outbox", in: database) == 400, "one create per deal, none twice")
        }
    }

    /// A lane's next batch is claimed while the one before still decides and saves: it skips that batch's rows,
    /// and a deal the two share waits until the first has committed, so per deal the rows are decided in order.
    @Test func anOverlappingBatchWaitsForTheDealsOfTheBatchBefore() async throws {
        try await TestPostgres.withDatabase { database in
            let inbox = InboxStore(database: database, logger: logger)
            _ = try await inbox.record(F.item([F.deal("md-1", title: "Сочи", at: 1000, version: 1)], key: "e1"))
            _ = try await inbox.record(F.item([F.deal("md-2", title: "Анапа", at: 1000, version: 1)], key: "e2"))
            _ = try await inbox.record(F.item([F.deal("md-1", title: "Сочи, 7 ночей", at: 1010, version: 2)], key: "e3"))
            _ = try await inbox.record(F.item([F.deal("md-3", title: "Бали", at: 1000, version: 1)], key: "e4"))
            let processor = InboxProcessor(database: database, setup: F.setup, logger: logger)
            let second = Mutex<Task<[InboxProcessor.Step], any Error>?>(nil)
            let waited = Atomic<Bool>(false)
            let claimed = Atomic<Int>(0)
            let first = try await processor.processBatch(connector: "masterdeal", limit: 2, decode: F.decode) { rows in
                claimed.store(rows, ordering: .relaxed)
                // The first batch holds md-1 and md-2: the second is claimed now and waits for md-1's lock.
                second.withLock { task in
                    task = Task { try await processor.processBatch(connector: "masterdeal", limit: 200, decode: F.decode) }
                }
                let seen: Void? = try? await eventually("the second batch waits for a deal's lock", timeout: .seconds(10)) {
                    try await F.count("pg_locks", where: "locktype = 'advisory' AND NOT granted", in: database) > 0
                }
                waited.store(seen != nil, ordering: .relaxed)
            }
            #expect(claimed.load(ordering: .relaxed) == 2, "told how many rows the batch claimed")
            let overlapped = waited.load(ordering: .relaxed)
            #expect(overlapped, "the second batch was claimed while the first was under way")
            #expect(first == [.processed(inboxID: 1, writes: 1, entries: 0), .processed(inboxID: 2, writes: 1, entries: 0)])
            let task = try #require(second.withLock { $0 })
            let later = try await task.value
            #expect(later == [.processed(inboxID: 3, writes: 1, entries: 0), .processed(inboxID: 4, writes: 1, entries: 0)])
            // md-1 is created with its first title and renamed after: the second batch decided on the first's link.
            let writes = try await Self.writes(in: database, where: "master_deal_id = 'md-1'")
            #expect(writes.map(\.0) == ["create", "update"])
            #expect(writes.map(\.1) == ["Сочи", "Сочи, 7 ночей"])
            #expect(try await F.count("links", in: database) == 3)
        }
    }
}
