import DealSyncStore
import Logging
import ServiceLifecycle

/// Whether an intake-only process's notices have anyone to wake: it runs no lanes or relays, so its `NOTIFY` are
/// for the `serve` processes present, and it sends none while there are none (`Database.notifiesOthers`). It counts
/// them every `interval`; the greeting of one that becomes present is heard at once by the process's
/// `NoticeListener` of the inbox channel.
final class ListenerCount: Service {
    let claims: OutboxClaims
    let interval: Duration
    let logger: Logger

    init(claims: OutboxClaims, interval: Duration, logger: Logger) {
        self.claims = claims
        self.interval = interval
        self.logger = logger
    }

    func run() async throws {
        let database = claims.database
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await database.abandonedWhenStopping {
                    try await database.recountListeners { try await self.claims.presentWorkers() > 0 }
                }
            } catch {
                logger.debug("processes present not counted", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            }
            await pause(interval)
        }
    }
}
