import DealSyncCore
import DealSyncStore
import DealSyncTestSupport
import Foundation
import PostgresNIO
import Synchronization
import Testing

/// A transaction's notices (which lanes and relays to wake) are sent once it has committed, never by one that rolled
/// back, and outside it: what transactions hand over while a notice is being sent goes out with the next one, and a
/// transaction sends for the others for a bounded number of statements only.
struct NoticesTests {
    let logger = TestPostgres.logger

    /// The payloads a listener heard, in order.
    final class Heard: Sendable {
        let payloads = Mutex<[String]>([])
        var all: [String] { payloads.withLock { $0 } }
        /// The names the notices carried (without the sending process's origin).
        var names: [String] { all.map { NoticePayload(text: $0).name } }
    }

    /// Runs `body` while a connection of its own listens on `channel` (ready once it heard a probe).
    func withListener(
        _ database: Database, on channel: Notices.Channel, _ body: @Sendable (Heard) async throws -> Void
    ) async throws {
        let heard = Heard()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await database.client.withConnection { connection in
                    try await connection.listen(on: channel.rawValue) { notifications in
                        for try await notification in notifications { heard.payloads.withLock { $0.append(notification.payload) } }
                    }
                }
            }
            defer { group.cancelAll() }
            try await eventually("the listener hears a probe", timeout: .seconds(10)) {
                try await database.client.query("SELECT pg_notify(\(channel.rawValue), 'probe')", logger: logger)
                try await Task.sleep(for: .milliseconds(50))
                return heard.all.contains("probe")
            }
            try await body(heard)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aCommittedTransactionsNoticeArrivesAndARolledBackOneSendsNone() async throws {
        try await TestPostgres.withDatabase { database in
            try await withListener(database, on: .inbox) { heard in
                await #expect(throws: TransactionError.self) {
                    try await database.transaction(logger: logger) { tx, notices in
                        try await tx.query("SELECT 1", logger: logger)
                        notices.wake(.inbox, ["rolled-back"])
                        throw CrashForTest()
                    }
                }
                let stored = try await InboxStore(database: database, logger: logger).record(Self.item("tour-a"))
                guard case .stored = stored else { Issue.record("not stored: \(stored)"); return }
                try await eventually("the stored row's lane is woken", timeout: .seconds(10)) { heard.names.contains("tour-a") }
                // Notifications arrive in the order they were sent: one for the rolled-back row would have come first.
                // Each names the process that sent it.
                #expect(
                    heard.all.map(NoticePayload.init(text:)).filter { $0.name != "probe" } == [
                        NoticePayload(origin: database.noticeOrigin, name: "tour-a")
                    ])
            }
        }
    }

    static func item(_ connector: String) -> InboxItem {
        InboxItem(
            connector: connector, dedupeKey: "key-\(connector)", source: .webhook,
            contentType: "application/x-www-form-urlencoded", body: Data("leads[update][0][id]=1".utf8))
    }

    /// Statements that each wait for a permit, recording what they were asked to send.
    final class HeldStatements: Sendable {
        private struct State {
            var sent: [[String]] = []
            var permits = 0
            var waiting: CheckedContinuation<Void, Never>?
        }

        private let state = Mutex(State())
        var sent: [[String]] { state.withLock { $0.sent } }

        /// (A test that runs out of time is cancelled: the statement waiting then ends, so the test fails, not hangs.)
        var statement: NoticeSender.Statement {
            { batch in
                self.state.withLock { $0.sent.append(batch.map(\.payload)) }
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        let now = self.state.withLock { s -> Bool in
                            guard s.permits == 0, !Task.isCancelled else {
                                s.permits = max(0, s.permits - 1)
                                return true
                            }
                            s.waiting = continuation
                            return false
                        }
                        if now { continuation.resume() }
                    }
                } onCancel: {
                    self.release()
                }
            }
        }

        /// Lets the statement waiting (or the next one) end.
        func release() {
            let waiting = state.withLock { s -> CheckedContinuation<Void, Never>? in
                defer { s.waiting = nil }
                if s.waiting == nil { s.permits += 1 }
                return s.waiting
            }
            waiting?.resume()
        }
    }

    static func notices(_ payloads: String...) -> Notices {
        let notices = Notices()
        notices.wake(.outbox, payloads)
        return notices
    }

    @Test(.timeLimit(.minutes(1)))
    func noticesHandedOverWhileOneIsSentGoOutTogetherWithTheNext() async throws {
        let sender = NoticeSender(logger: logger)
        let statements = HeldStatements()
        async let first: Void = sender.send(Self.notices("first"), with: statements.statement)
        try await eventually("the first statement is under way") { statements.sent.count == 1 }
        // Ten more commits while it is sent: each hands its notice over and goes on at once.
        for index in 0..<10 { await sender.send(Self.notices("n\(index)"), with: statements.statement) }
        #expect(statements.sent.count == 1)
        statements.release()
        statements.release()
        await first
        #expect(statements.sent == [["first"], (0..<10).map { "n\($0)" }])
    }

    /// A statement that fails (or runs out of its time: `Database` bounds each one) is given up, and the notices
    /// after it are sent: a failure never leaves the process with nobody sending.
    @Test(.timeLimit(.minutes(1)))
    func aFailedStatementDoesNotStopTheNoticesAfterIt() async throws {
        struct Refused: Error {}
        let sender = NoticeSender(logger: logger)
        let sent = Mutex<[[String]]>([])
        let statement: NoticeSender.Statement = { batch in
            sent.withLock { $0.append(batch.map(\.payload)) }
            if batch.contains(where: { $0.payload == "lost" }) { throw Refused() }
        }
        await sender.send(Self.notices("lost"), with: statement)
        await sender.send(Self.notices("next"), with: statement)
        #expect(sent.withLock { $0 } == [["lost"], ["next"]])
    }

    /// A transaction that named a channel but nothing on it (a batch that wrote no outbox row asks to wake the
    /// relays of none) sends nothing, and the notices after it are still sent: once such a notice left the sender
    /// believing it was sending, no process sent another, and relays waited for their idle poll (a freshness of
    /// seconds at 50 changes a second).
    @Test(.timeLimit(.minutes(1)))
    func aNoticeNamingNothingSendsNothingAndTheNextIsStillSent() async throws {
        let sender = NoticeSender(logger: logger)
        let sent = Mutex<[[String]]>([])
        let statement: NoticeSender.Statement = { batch in sent.withLock { $0.append(batch.map(\.payload)) } }
        let nothing = Notices()
        nothing.wake(.outbox, [])
        nothing.wake(.inbox, [String]())
        await sender.send(nothing, with: statement)
        await sender.send(Self.notices(), with: statement)
        #expect(sent.withLock { $0 }.isEmpty)
        for index in 0..<3 { await sender.send(Self.notices("after-\(index)"), with: statement) }
        #expect(sent.withLock { $0 } == [["after-0"], ["after-1"], ["after-2"]])
    }

    /// The same through the database: a transaction whose notices name nothing, then a stored row's lane is woken.
    @Test(.timeLimit(.minutes(1)))
    func aTransactionThatNamedNothingDoesNotSilenceTheNextOnes() async throws {
        try await TestPostgres.withDatabase { database in
            try await withListener(database, on: .inbox) { heard in
                try await database.transaction(logger: logger) { tx, notices in
                    try await tx.query("SELECT 1", logger: logger)
                    notices.wake(.outbox, [])
                }
                for connector in ["tour-a", "tour-b"] {
                    let stored = try await InboxStore(database: database, logger: logger).record(Self.item(connector))
                    guard case .stored = stored else { Issue.record("not stored: \(stored)"); return }
                }
                try await eventually("both stored rows' lanes are woken", timeout: .seconds(10)) {
                    Set(heard.names).isSuperset(of: ["tour-a", "tour-b"])
                }
            }
        }
    }

    /// A process wakes its own lanes as soon as its transaction has committed, not a round trip through PostgreSQL
    /// later, and does not wake them a second time when that notification comes back; another process's notices
    /// (here one without an origin, as `psql` or the `dlq` command send, and one from another `Database`) wake
    /// them through `LISTEN`.
    @Test(.timeLimit(.minutes(1)))
    func aProcessHearsItsOwnNoticesOnceAtCommitAndOthersThroughPostgreSQL() async throws {
        try await TestPostgres.withDatabase { database in
            let other = Database(url: database.url, maximumConnections: 2, logger: logger)
            #expect(other.noticeOrigin != database.noticeOrigin)
            let woken = Heard()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await other.run() }
                group.addTask { await database.listen(to: .inbox) { name in woken.payloads.withLock { $0.append(name) } } }
                defer { group.cancelAll() }
                try await eventually("the listener hears a notice without an origin", timeout: .seconds(10)) {
                    try await database.client.query("SELECT pg_notify('dealsync_inbox', 'probe')", logger: logger)
                    try await Task.sleep(for: .milliseconds(50))
                    return woken.all.contains("probe")
                }
                let stored = try await InboxStore(database: database, logger: logger).record(Self.item("tour-a"))
                guard case .stored = stored else { Issue.record("not stored: \(stored)"); return }
                // Told by the time `record` returned (at commit; its `NOTIFY` may have come back too, and been skipped).
                #expect(woken.all.filter { $0 == "tour-a" }.count == 1)
                // Another process's commit after it: once its notice is heard, the own one has come back too
                // (PostgreSQL delivers notifications in commit order) and was skipped.
                let theirs = try await InboxStore(database: other, logger: logger).record(Self.item("tour-b"))
                guard case .stored = theirs else { Issue.record("not stored: \(theirs)"); return }
                try await eventually("the other process's notice is heard", timeout: .seconds(10)) { woken.all.contains("tour-b") }
                #expect(woken.all.filter { $0 == "tour-a" }.count == 1)
                #expect(woken.all.filter { $0 == "tour-b" }.count == 1)
            }
        }
    }

    /// A process that counted itself alone sends no `NOTIFY` (its own lanes are still woken), and sends again as
    /// soon as another process greets it.
    @Test(.timeLimit(.minutes(1)))
    func aProcessAloneSendsNoNotifyUntilAnotherGreetsIt() async throws {
        try await TestPostgres.withDatabase { database in
            let other = Database(url: database.url, maximumConnections: 2, logger: logger)
            let woken = Heard()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await other.run() }
                group.addTask { await database.listen(to: .inbox) { name in woken.payloads.withLock { $0.append(name) } } }
                defer { group.cancelAll() }
                try await withListener(database, on: .inbox) { heard in
                    try await eventually("this process's listener hears a notice", timeout: .seconds(10)) {
                        try await database.client.query("SELECT pg_notify('dealsync_inbox', 'probe')", logger: logger)
                        try await Task.sleep(for: .milliseconds(50))
                        return woken.all.contains("probe")
                    }
                    #expect(database.notifiesOthers)
                    await database.recountListeners { false }
                    #expect(!database.notifiesOthers)
                    let alone = try await InboxStore(database: database, logger: logger).record(Self.item("tour-alone"))
                    guard case .stored = alone else { Issue.record("not stored: \(alone)"); return }
                    #expect(woken.all.contains("tour-alone"), "its own lane is woken all the same")
                    // A notice sent after the commit: once it is heard, a NOTIFY of the commit would have been too.
                    try await database.client.query("SELECT pg_notify('dealsync_inbox', 'marker')", logger: logger)
                    try await eventually("the marker is heard", timeout: .seconds(10)) { heard.names.contains("marker") }
                    #expect(!heard.names.contains("tour-alone"))
                    // Another process's notice is not a greeting: it may come from an intake-only process, which
                    // listens for no lane.
                    let theirs = try await InboxStore(database: other, logger: logger).record(Self.item("tour-theirs"))
                    guard case .stored = theirs else { Issue.record("not stored: \(theirs)"); return }
                    try await eventually("the other process's notice is heard", timeout: .seconds(10)) {
                        woken.all.contains("tour-theirs")
                    }
                    #expect(!database.notifiesOthers)

                    try await other.greet(logger: logger)
                    try await eventually("the greeting is heard", timeout: .seconds(10)) { database.notifiesOthers }
                    #expect(!woken.all.contains(""), "a greeting wakes no lane")
                    let together = try await InboxStore(database: database, logger: logger).record(Self.item("tour-together"))
                    guard case .stored = together else { Issue.record("not stored: \(together)"); return }
                    try await eventually("the next commit is notified", timeout: .seconds(10)) { heard.names.contains("tour-together") }
                }
            }
        }
    }

    /// A count that found no other process while one greeted this one does not silence it: the greeting came after
    /// the count had missed the process.
    @Test(.timeLimit(.minutes(1)))
    func aCountThatMissedAGreetingLeavesTheNoticesOn() async throws {
        try await TestPostgres.withDatabase { database in
            let other = Database(url: database.url, maximumConnections: 2, logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await other.run() }
                group.addTask { await database.listen(to: .inbox) { _ in } }
                defer { group.cancelAll() }
                await database.recountListeners { false }
                #expect(!database.notifiesOthers)
                try await database.recountListeners {
                    try await eventually("a greeting sent during the count is heard", timeout: .seconds(10)) {
                        try await other.greet(logger: logger)
                        try await Task.sleep(for: .milliseconds(50))
                        return database.notifiesOthers
                    }
                    return false
                }
                #expect(database.notifiesOthers)
                // With nothing heard meanwhile, the count decides.
                await database.recountListeners { false }
                #expect(!database.notifiesOthers)
            }
        }
    }

    @Test
    func aNoticeCarriesItsOriginAndReadsBackWithout() {
        let origin = "0123456789abcdef"
        for name in ["tour-a", "", "a:b", "0123456789abcdef:x"] {
            let text = NoticePayload(origin: origin, name: name).text
            #expect(text == "\(origin):\(name)")
            #expect(NoticePayload(text: text) == NoticePayload(origin: origin, name: name))
        }
        // Without a well-formed origin the whole text is the name.
        for text in ["probe", "", "0123456789ABCDEF:tour-a", "0123456789abcde:tour-a", "0123456789abcdefgtour-a"] {
            #expect(NoticePayload(text: text) == NoticePayload(origin: nil, name: text))
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func theSenderTellsThisProcessBeforeAnyStatementIsSent() async throws {
        let sender = NoticeSender(logger: logger)
        let statements = HeldStatements()
        let told = Mutex<[[Notices.Channel: Set<String>]]>([])
        async let first: Void = sender.send(
            Self.notices("first"), locally: { taken in told.withLock { $0.append(taken) } }, with: statements.statement)
        try await eventually("the first statement is under way") { statements.sent.count == 1 }
        // The second is handed over to the statement under way, and this process is told of it at once.
        await sender.send(Self.notices("second"), locally: { taken in told.withLock { $0.append(taken) } }, with: statements.statement)
        #expect(told.withLock { $0 } == [[.outbox: ["first"]], [.outbox: ["second"]]])
        #expect(statements.sent == [["first"]])
        statements.release()
        statements.release()
        await first
    }

    @Test(.timeLimit(.minutes(1)))
    func aTransactionSendsForTheOthersForBoundedRoundsThenATaskTakesOver() async throws {
        let sender = NoticeSender(logger: logger)
        let statements = HeldStatements()
        #expect(NoticeSender.rounds == 2)
        async let leader: Void = sender.send(Self.notices("a"), with: statements.statement)
        try await eventually("the leader's first statement") { statements.sent.count == 1 }
        await sender.send(Self.notices("b"), with: statements.statement)
        statements.release()
        try await eventually("the leader's second statement, for the other transaction") { statements.sent.count == 2 }
        await sender.send(Self.notices("c"), with: statements.statement)
        statements.release()
        // Two rounds sent: the leader returns to its own work although "c" waits.
        await leader
        try await eventually("a task sends what was left") { statements.sent.count == 3 }
        statements.release()
        #expect(statements.sent == [["a"], ["b"], ["c"]])
        // Nothing is left behind: the next transaction's notice is sent too.
        async let next: Void = sender.send(Self.notices("d"), with: statements.statement)
        try await eventually("the next notice is sent") { statements.sent.count == 4 }
        statements.release()
        await next
        #expect(statements.sent.last == ["d"])
    }
}
