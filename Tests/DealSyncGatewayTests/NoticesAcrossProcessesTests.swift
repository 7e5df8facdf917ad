import DealSyncGateway
import DealSyncStore
import DealSyncTestSupport
import Foundation
import Testing

/// A gateway that finds itself the only process present sends no `NOTIFY` (its own lanes and relays are woken at
/// commit); another process that becomes present greets it, and it notifies again at once, then keeps doing so while
/// its counts find the other present.
struct NoticesAcrossProcessesTests {
    @Test(.timeLimit(.minutes(2)))
    func aGatewayAloneStopsNotifyingAndStartsAgainWhenAnotherProcessIsPresent() async throws {
        try await SyncSystem.run { system in
            try await Self.aloneThenNotAloneThenAlone(system) {
                // MasterDeal's rate shared by two: the gateway's count found the other process present.
                try await system.eventually("the gateway counts two processes") {
                    system.gateway.metrics.exposition().contains(#"dealsync_rate_limit_share{connector="masterdeal"} 0.5"#)
                }
            }
        }
    }

    /// An intake-only process notifies only while a `serve` that runs lanes is present: its notices are for them.
    @Test(.timeLimit(.minutes(2)))
    func anIntakeOnlyProcessNotifiesOnlyWhileAnotherProcessIsPresent() async throws {
        var options = SyncSystem.Options()
        options.polling = false
        options.gateway = { $0.intakeOnly = true }
        try await SyncSystem.run(options) { system in
            try await Self.aloneThenNotAloneThenAlone(system) {
                // Two of its counts while the other is present.
                let counted = system.database.listenerCounts
                try await system.eventually("two more counts") { system.database.listenerCounts >= counted + 2 }
            }
        }
    }

    /// Waits until `system`'s gateway, alone, stops notifying; makes another process present, which greets it, and
    /// checks that its notices are on at once and stay on through `meanwhile`; then, the other gone, off again.
    static func aloneThenNotAloneThenAlone(_ system: SyncSystem, meanwhile: @escaping @Sendable () async throws -> Void) async throws {
        try await system.eventually("the gateway, alone, stops notifying") { !system.database.notifiesOthers }
        let other = Database(url: system.database.url, maximumConnections: 2, logger: TestPostgres.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await other.run() }
            defer { group.cancelAll() }
            try await OutboxClaims(database: other, logger: TestPostgres.logger).whilePresent(worker: "gateway-other") {
                try await other.greet(logger: TestPostgres.logger)
                try await system.eventually("the greeting turns the notices on", timeout: .seconds(5)) {
                    system.database.notifiesOthers
                }
                try await meanwhile()
                #expect(system.database.notifiesOthers)
            }
        }
        try await system.eventually("alone again, it stops notifying") { !system.database.notifiesOthers }
    }
}
