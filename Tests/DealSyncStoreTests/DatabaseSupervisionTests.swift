import DealSyncStore
import DealSyncTestSupport
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// The supervision of the pool probes it once per interval, and at once when asked: it never spins (a wait that
/// ended early for ever once probed PostgreSQL thousands of times a second in every process). A round of queries
/// that never answers holds a service neither for good nor at shutdown.
struct DatabaseSupervisionTests {
    static func withSupervised(interval: Duration, _ body: @Sendable (Database) async throws -> Void) async throws {
        let url = try await TestPostgres.freshDatabaseURL()
        var options = DatabaseAvailability.Options()
        options.interval = interval
        let database = Database(url: url, maximumConnections: 2, availability: options, logger: TestPostgres.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await database.run() }
            defer { group.cancelAll() }
            try await body(database)
        }
    }

    @Test func theSupervisionProbesOncePerIntervalNeverFaster() async throws {
        let interval = Duration.milliseconds(100)
        try await Self.withSupervised(interval: interval) { database in
            try await eventually("the first probe", timeout: .seconds(10)) { database.probeCount >= 1 }
            let first = ContinuousClock.now
            try await eventually("four more probes", timeout: .seconds(10)) { database.probeCount >= 5 }
            // Each probe after the first waits a whole interval: four of them cannot come sooner than four intervals.
            #expect(first.duration(to: .now) >= interval * 4, "\(database.probeCount) probes in \(first.duration(to: .now))")
            #expect(database.isAvailable)
        }
    }

    @Test func aProbeAskedForComesAtOnceEveryTime() async throws {
        try await Self.withSupervised(interval: .seconds(600)) { database in
            try await eventually("the first probe", timeout: .seconds(10)) { database.probeCount == 1 }
            for expected in 2...4 {
                database.probeSoon()
                try await eventually("probe \(expected), asked for", timeout: .seconds(10)) { database.probeCount == expected }
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aRoundThatNeverAnswersIsGivenUpAfterItsLimit() async throws {
        try await Self.withSupervised(interval: .seconds(600)) { database in
            try await eventually("the first probe", timeout: .seconds(10)) { database.probeCount == 1 }
            let stuck = Stuck()
            defer { stuck.release() }
            let started = ContinuousClock.now
            await #expect(throws: DeadlinePassed.self) { try await database.bounded(.milliseconds(300)) { await stuck.wait() } }
            #expect(started.duration(to: .now) >= .milliseconds(300))
            #expect(stuck.isWaiting, "the round was left waiting, not ended")
            // A round that never answered is a reason to look at the pool now.
            try await eventually("a probe asked for", timeout: .seconds(10)) { database.probeCount == 2 }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aRoundThatNeverAnswersIsLeftBehindAtShutdownOnceTheGraceHasPassed() async throws {
        try await Self.withSupervised(interval: .milliseconds(200)) { database in
            try await eventually("the database is known to be there", timeout: .seconds(10)) { database.isAvailable }
            let stuck = Stuck()
            defer { stuck.release() }
            let grace = Duration.milliseconds(500)
            let service = RoundService(database: database, grace: grace, stuck: stuck)
            let group = ServiceGroup(services: [service], gracefulShutdownSignals: [], logger: TestPostgres.logger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                try await eventually("the round is under way", timeout: .seconds(10)) { stuck.isWaiting }
                let told = ContinuousClock.now
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                #expect(told.duration(to: .now) >= grace, "the round had its grace to end: \(told.duration(to: .now))")
            }
            #expect(service.outcome.withLock { $0 } == "abandoned")
            #expect(database.isAvailable, "left behind for its grace, not for an outage")
            #expect(stuck.isWaiting)
        }
    }
}

/// A service running one round that never ends by itself, as a query on a connection that never answers.
final class RoundService: Service, Sendable {
    let database: Database
    let grace: Duration
    let stuck: Stuck
    let outcome = Mutex<String?>(nil)

    init(database: Database, grace: Duration, stuck: Stuck) {
        (self.database, self.grace, self.stuck) = (database, grace, stuck)
    }

    func run() async throws {
        do {
            let stuck = self.stuck
            try await database.abandonedWhenStopping(grace: grace) { await stuck.wait() }
            outcome.withLock { $0 = "returned" }
        } catch is CancellationError {
            outcome.withLock { $0 = "abandoned" }
        }
    }
}

/// Work that waits, deaf to cancellation, until the test releases it.
final class Stuck: Sendable {
    private let state = Mutex<(released: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    var isWaiting: Bool { !state.withLock { $0.waiters.isEmpty } }

    func wait() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.released { return true }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    func release() {
        let waiters = state.withLock { state in
            state.released = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
