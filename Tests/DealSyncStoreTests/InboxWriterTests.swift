import DealSyncCore
import DealSyncStore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Synchronization
import Testing

/// Intake's group commit: concurrent requests share one insert and one commit, each is answered only after its
/// group's commit, a duplicate is still a duplicate, a failed commit fails its whole group and stores nothing,
/// and a row PostgreSQL refuses fails alone.
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

    /// Runs `body` with a writer whose single flusher holds its first group open until `release` is called, so the
    /// requests sent meanwhile all queue up for the next group.
    func withWriter(
        database: Database, fail: @escaping @Sendable ([InboxItem]) -> Bool = { _ in false },
        _ body: @Sendable (InboxWriter, Groups, @escaping @Sendable () -> Void) async throws -> Void
    ) async throws {
        let groups = Groups()
        let (gate, opener) = AsyncStream.makeStream(of: Void.self)
        let firstHeld = Mutex(false)
        var options = InboxWriter.Options()
        options.flushers = 1
        options.deadline = .seconds(30)
        let writer = InboxWriter(database: database, logger: logger, options: options) { items in
            groups.add(items)
            if firstHeld.withLock({ held in
                defer { held = true }; return !held
            }) {
                for await _ in gate { break }
            }
            if fail(items) { throw CrashForTest() }
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

    @Test(.timeLimit(.minutes(1)))
    func aFailedCommitFailsEveryRequestInItsGroupAndStoresNothing() async throws {
        try await TestPostgres.withDatabase { database in
            try await withWriter(database: database, fail: { $0.contains { $0.dedupeKey == "boom" } }) { writer, groups, release in
                async let first = writer.record(Self.item("first"))
                try await eventually("the first group is held open") { groups.all.count == 1 }
                async let rest = Self.send(["a", "boom", "b", "c"], to: writer)
                try await eventually("every request has queued") { writer.waiting == 5 }
                release()
                let results = try await (first, rest)
                #expect(results.0 == .stored(id: 1))
                #expect(groups.all.last?.sorted() == ["a", "b", "boom", "c"], "the four shared a group")
                for result in results.1 {
                    guard case .failure(let error) = result, let notStored = error as? InboxWriter.NotStored else {
                        Issue.record("expected every request of the failed group to fail, got \(result)")
                        continue
                    }
                    #expect(notStored.reason == .databaseError)
                }
                #expect(try await F.count("inbox", in: database) == 1, "nothing of the failed group was stored")
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
                for result in try await first + second {
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
