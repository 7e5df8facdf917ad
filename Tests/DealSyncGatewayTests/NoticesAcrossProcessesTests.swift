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
                    // MasterDeal's rate shared by two: the gateway's count found the other process present.
                    try await system.eventually("the gateway counts two processes") {
                        system.gateway.metrics.exposition().contains(#"dealsync_rate_limit_share{connector="masterdeal"} 0.5"#)
                    }
                    #expect(system.database.notifiesOthers)
                }
            }
            try await system.eventually("alone again, it stops notifying") { !system.database.notifiesOthers }
        }
    }
}
