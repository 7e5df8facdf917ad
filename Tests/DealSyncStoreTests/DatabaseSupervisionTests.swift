import DealSyncStore
import DealSyncTestSupport
import Foundation
import Testing

/// The supervision of the pool probes it once per interval, and at once when asked: it never spins (a wait that
/// ended early for ever once probed PostgreSQL thousands of times a second in every process).
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
}
