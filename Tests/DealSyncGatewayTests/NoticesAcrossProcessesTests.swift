import DealSyncGateway
import DealSyncStore
import DealSyncTestSupport
import Foundation
import ServiceLifecycle
import Testing

/// A gateway that finds itself the only process present sends no `NOTIFY` (its own lanes and relays are woken at
/// commit). Another `serve` that becomes present greets it, and it notifies again at once; its counts keep it
/// notifying while the other is present and stop it once the other is gone. An intake-only gateway behaves the same
/// (its notices are for the processes that run lanes).
struct NoticesAcrossProcessesTests {
    /// The greeting, from a second gateway's own presence: with counts a minute apart, only the greeting can turn the
    /// notices back on within the test.
    @Test(.timeLimit(.minutes(2)), arguments: [false, true])
    func aGatewayAloneNotifiesAgainAsSoonAsAnotherGatewayGreetsIt(intakeOnly: Bool) async throws {
        var options = SyncSystem.Options()
        options.polling = !intakeOnly
        options.gateway = {
            $0.intakeOnly = intakeOnly
            $0.statsInterval = .seconds(60)
        }
        try await SyncSystem.run(options) { system in
            // The first count, as the gateway starts, finds it alone.
            try await system.eventually("the gateway, alone, stops notifying") { !system.database.notifiesOthers }
            let counted = system.database.listenerCounts
            try await Database.withDatabase(system.database.url, logger: TestPostgres.logger, maximumConnections: 5) { database in
                var otherOptions = system.gateway.options
                otherOptions.intakeOnly = false
                otherOptions.port = try FreePort.pick()
                otherOptions.worker = "gateway-other"
                let other = Gateway(
                    configuration: system.configuration, database: database, options: otherOptions, logger: TestPostgres.logger)
                let group = ServiceGroup(services: other.services(), logger: TestPostgres.logger)
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { try await group.run() }
                    try await system.eventually("the other gateway's greeting turns the notices on", timeout: .seconds(10)) {
                        system.database.notifiesOthers
                    }
                    #expect(system.database.listenerCounts == counted, "turned on by the greeting, not by a count")
                    await group.triggerGracefulShutdown()
                    try await tasks.waitForAll()
                }
            }
        }
    }

    /// The counts: another process present (that greets nobody) turns the notices on at the next count, and its
    /// absence off again.
    @Test(.timeLimit(.minutes(2)), arguments: [false, true])
    func aGatewayCountsTheProcessesPresent(intakeOnly: Bool) async throws {
        var options = SyncSystem.Options()
        options.polling = !intakeOnly
        options.gateway = { $0.intakeOnly = intakeOnly }
        try await SyncSystem.run(options) { system in
            try await system.eventually("the gateway, alone, stops notifying") { !system.database.notifiesOthers }
            let other = Database(url: system.database.url, maximumConnections: 2, logger: TestPostgres.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await other.run() }
                defer { group.cancelAll() }
                try await OutboxClaims(database: other, logger: TestPostgres.logger).whilePresent(worker: "gateway-other") {
                    try await system.eventually("a count finds the other process") { system.database.notifiesOthers }
                    if !intakeOnly {
                        // MasterDeal's rate shared by two: the same count.
                        try await system.eventually("the gateway counts two processes") {
                            system.gateway.metrics.exposition().contains(#"dealsync_rate_limit_share{connector="masterdeal"} 0.5"#)
                        }
                    }
                    let counted = system.database.listenerCounts
                    try await system.eventually("two more counts") { system.database.listenerCounts >= counted + 2 }
                    #expect(system.database.notifiesOthers)
                }
            }
            try await system.eventually("alone again, it stops notifying") { !system.database.notifiesOthers }
        }
    }
}
