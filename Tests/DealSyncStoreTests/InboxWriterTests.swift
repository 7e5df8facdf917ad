import DealSyncCore
import DealSyncStore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Synchronization
import Testing

/// Intake's group commit: concurrent requests share one insert and one commit, each is answered only after its
/// group's commit, a duplicate is still a duplicate, a group PostgreSQL fails part way fails whole and stores
/// nothing, and a row PostgreSQL refuses fails alone.
struct InboxWriterTests {
    typealias F = StoreFixtures
    let logger = TestPostgres.logger

    static func item(_ key: String) -> InboxItem {
        InboxItem(
            connector: "tour", dedupeKey: key, source: .webhook, contentType: "application/x-www-form-urlencoded",
            body: Data("leads[update][0][id]=\(key)".utf8))
    }

    /// The groups a writer committed (or tried to), as the hook saw them.
    final class Groups: Sendable {
        let seen = Mutex<[[String]]>([])
        func add(_ items: [InboxItem]) { seen.withLock { $0.append(items.map(\.dedupeKey)) } }
        var all: [[String]] { seen.withLock { $0 } }
    }

    /// Runs `body` with a writer whose first group is held open until `release` is called; with a single flusher
    /// (unless `adjust` says otherwise), the requests sent meanwhile all queue up for the next group.
    func withWriter(
        database: Database, adjust: (inout InboxWriter.Options) -> Void = { _ in },
        _ body: @Sendable (InboxWriter, Groups, @escaping @Sendable () -> Void) async throws -> Void
    ) async throws {
        let groups = Groups()
        let (gate, opener) = AsyncStream.makeStream(of: Void.self)
        let firstHeld = Mutex(false)
        var options = InboxWriter.Options()
        options.flushers = 1
        options.deadline = .seconds(30)
        adjust(&options)
        let writer = InboxWriter(database: database, logger: logger, options: options) { items in
            groups.add(items)
            if firstHeld.withLock({ held in
                defer { held = true }; return !held
            }) {
                for await _ in gate { break }
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await writer.run() }
            try await body(writer, groups) { opener.yield() }
            writer.stop()
            try await tasks.waitForAll()
        }
    }

    /// Sends `keys` at once and returns each one's result (or error) in order.
    static func send(_ keys: [String], to writer: InboxWriter) async -> [Result<InboxStore.RecordResult, any Error>] {
        await withTaskGroup(of: (Int, Result<InboxStore.RecordResult, any Error>).self) { group in
            for (index, key) in keys.enumerated() {
                group.addTask {
                    do { return (index, .success(try await writer.record(item(key)))) } catch { return (index, .failure(error)) }
                }
            }
            var results = [Result<InboxStore.RecordResult, any Error>?](repeating: nil, count: keys.count)
            for await (index, result) in group { results[index] = result }
            return results.map { $0! }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func concurrentRequestsShareOneCommitAndADuplicateIsStillADuplicate() async throws {
        try await TestPostgres.withDatabase { database in
            try await withWriter(database: database) { writer, groups, release in
                async let first = writer.record(Self.item("first"))
                try await eventually("the first group is held open") { groups.all.count == 1 }
                async let rest = Self.send((0..<20).map { "k\($0)" } + ["k3"], to: writer)
                try await eventually("every request has queued") { writer.waiting == 22 }
                release()
                let results = try await (first, rest)
                #expect(results.0 == .stored(id: 1))
                let stored = results.1.compactMap { try? $0.get() }
                #expect(stored.count == 21)
                #expect(stored.filter { $0 == .duplicate }.count == 1, "k3 twice: stored once, reported once as a duplicate")
                #expect(try await F.count("inbox", in: database) == 21)
                #expect(groups.all.count == 2, "twenty-one requests, one commit: \(groups.all.map(\.count))")
            }
        }
    }

    /// Runs `body` with two flushers, the first holding a group of one request ("first") open until `body` returns;
    /// then lets it commit and checks it was stored.
    func whileAGroupIsHeld(
        database: Database, groupRows: Int, groupWait: Duration, _ body: @Sendable (InboxWriter, Groups) async throws -> Void
    ) async throws {
        try await withWriter(
            database: database,
            adjust: {
                $0.flushers = 2
                $0.groupRows = groupRows
                $0.groupWait = groupWait
            }
        ) { writer, groups, release in
            async let first = writer.record(Self.item("first"))
            try await eventually("the first group is held open") { groups.all.count == 1 }
            try await body(writer, groups)
            release()
            #expect(try await first != .duplicate)
        }
    }

    /// While a commit is under way, a second flusher starts the next group only once `groupRows` requests have
    /// queued: not for each request as it comes (each commit costs far more than a row).
    @Test(.timeLimit(.minutes(1)))
    func whileACommitIsUnderWayTheNextGroupStartsOnceItIsFull() async throws {
        try await TestPostgres.withDatabase { database in
            try await whileAGroupIsHeld(database: database, groupRows: 5, groupWait: .seconds(3600)) { writer, groups in
                async let four = Self.send(["a", "b", "c", "d"], to: writer)
                try await eventually("four requests have queued") { writer.waiting == 5 }
                async let fifth = writer.record(Self.item("e"))
                try await eventually("the second group has started") { groups.all.count == 2 }
                #expect(groups.all[1].sorted() == ["a", "b", "c", "d", "e"], "one group of five: \(groups.all)")
                let (stored, fifthResult) = try await (four, fifth)
                #expect(stored.count == 4)
                #expect(stored.allSatisfy { if case .success(.stored) = $0 { true } else { false } })
                #expect(fifthResult != .duplicate)
                #expect(groups.all.count == 2, "stored while the first group was still held: \(groups.all)")
            }
            #expect(try await F.count("inbox", in: database) == 6)
        }
    }

    /// …or once the oldest of those queued has waited `groupWait`, however few they are.
    @Test(.timeLimit(.minutes(1)))
    func whileACommitIsUnderWayAFewRequestsWaitNoLongerThanTheGroupWait() async throws {
        try await TestPostgres.withDatabase { database in
            try await whileAGroupIsHeld(database: database, groupRows: 100, groupWait: .milliseconds(500)) { writer, groups in
                let three = await Self.send(["a", "b", "c"], to: writer)
                #expect(three.count == 3)
                #expect(three.allSatisfy { if case .success(.stored) = $0 { true } else { false } }, "\(three)")
                #expect(groups.all.count == 2, "stored while the first group was still held: \(groups.all)")
                #expect(groups.all.last?.sorted() == ["a", "b", "c"])
            }
            #expect(try await F.count("inbox", in: database) == 4)
        }
    }

    /// PostgreSQL fails the group's statement part way (the disk is full when it reaches the second row): the row it
    /// had inserted goes with the rest, and every request of the group is told.
    @Test(.timeLimit(.minutes(1)))
    func aGroupThatFailsPartWayFailsEveryRequestInItAndStoresNothing() async throws {
        try await TestPostgres.withDatabase { database in
            try await database.client.query(
                """
                CREATE FUNCTION fail_at_boom() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.dedupe_key = 'boom' THEN RAISE EXCEPTION 'could not extend file' USING ERRCODE = 'disk_full'; END IF;
                    RETURN NEW;
                END $$
                """, logger: logger)
            try await database.client.query(
                "CREATE TRIGGER fail_at_boom BEFORE INSERT ON inbox FOR EACH ROW EXECUTE FUNCTION fail_at_boom()", logger: logger)
            try await withWriter(database: database) { writer, groups, release in
                async let first = writer.record(Self.item("first"))
                try await eventually("the first group is held open") { groups.all.count == 1 }
                // Queued in this order, so the statement inserts "a" before it reaches "boom".
                var requests: [Task<InboxStore.RecordResult, any Error>] = []
                for (index, key) in ["a", "boom", "b", "c"].enumerated() {
                    requests.append(Task { try await writer.record(Self.item(key)) })
                    try await eventually("\(key) has queued") { writer.waiting == index + 2 }
                }
                release()
                #expect(try await first == .stored(id: 1))
                for request in requests {
                    let result = await request.result
                    guard case .failure(let error) = result, let notStored = error as? InboxWriter.NotStored else {
                        Issue.record("expected every request of the failed group to fail, got \(result)")
                        continue
                    }
                    #expect(notStored.reason == .databaseError)
                }
                #expect(groups.all.last == ["a", "boom", "b", "c"], "the four shared a group, in order")
                #expect(try await F.count("inbox", in: database) == 1, "nothing of the failed group was stored")
                // "a" and "boom" took ids 2 and 3 before the statement failed: "a" had been inserted.
                #expect(try await writer.record(Self.item("after")) == .stored(id: 4))
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aRowPostgreSQLRefusesFailsAloneAndTheRestOfItsGroupIsStored() async throws {
        try await TestPostgres.withDatabase { database in
            try await withWriter(database: database) { writer, groups, release in
                async let first = writer.record(Self.item("first"))
                try await eventually("the first group is held open") { groups.all.count == 1 }
                async let rest = Self.send(["a", "bad\u{0}key", "b"], to: writer)
                try await eventually("every request has queued") { writer.waiting == 4 }
                release()
                let results = try await (first, rest)
                #expect(results.0 == .stored(id: 1))
                #expect((try? results.1[0].get()).map { if case .stored = $0 { true } else { false } } == true)
                #expect((try? results.1[2].get()).map { if case .stored = $0 { true } else { false } } == true)
                guard case .failure = results.1[1] else {
                    Issue.record("expected the refused row to fail, got \(results.1[1])")
                    return
                }
                #expect(try await F.count("inbox", in: database) == 3)
                #expect(groups.all.count >= 3, "the group was tried, then its rows one by one: \(groups.all)")
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aRequestThatCannotBeStoredInTimeIsToldSoAndItsRowIsNotStoredLater() async throws {
        try await TestPostgres.withDatabase { database in
            var options = InboxWriter.Options()
            options.flushers = 1
            options.deadline = .milliseconds(300)
            let (gate, opener) = AsyncStream.makeStream(of: Void.self)
            let groups = Groups()
            let writer = InboxWriter(database: database, logger: logger, options: options) { items in
                groups.add(items)
                for await _ in gate { break }
            }
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { await writer.run() }
                // The first request's commit hangs (the database is away); the second queues behind it.
                async let first = Self.send(["slow"], to: writer)
                try await eventually("the first group is being committed") { groups.all == [["slow"]] }
                let second = await Self.send(["queued"], to: writer)
                for result in await first + second {
                    guard case .failure(let error) = result, (error as? InboxWriter.NotStored)?.reason == .timedOut else {
                        Issue.record("expected a timeout, got \(result)")
                        continue
                    }
                }
                #expect(writer.waiting == 0, "requests that gave up are forgotten")
                opener.yield()
                writer.stop()
                try await tasks.waitForAll()
            }
            #expect(groups.all == [["slow"]], "the request that gave up while queued was never in a group")
            #expect(try await F.count("inbox", where: "dedupe_key = 'queued'", in: database) == 0, "a request that gave up is not stored")
        }
    }
}
