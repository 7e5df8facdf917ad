import DealSyncStore
import Logging
import ServiceLifecycle
import Synchronization

/// This process's presence in the database: one shared advisory lock, held on a connection of its own for as long
/// as the process runs. Another process that finds a claim (an outbox write in flight, an inbox fetch) of a worker
/// that is not present takes it over at once instead of waiting for the claim's lease.
///
/// Relays and inbox lanes claim only while the presence is held (``waitUntilHeld()``); when its connection is lost
/// they stop claiming until it is back.
final class Presence: Service {
    let claims: OutboxClaims
    let worker: String
    let logger: Logger
    private let held = Mutex(false)
    private let changed = Wakeup()

    init(claims: OutboxClaims, worker: String, logger: Logger) {
        self.claims = claims
        self.worker = worker
        self.logger = logger
    }

    var isHeld: Bool { held.withLock { $0 } }

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await claims.whilePresent(worker: worker) { [self] in
                    // A process that found itself alone sends no notices; this one tells it to send them again,
                    // before its own lanes and relays begin. (Lost, it is made up for by the other's next count.)
                    do {
                        try await claims.database.greet(logger: logger)
                    } catch {
                        logger.debug("greeting not sent", metadata: ["error": "\(String(reflecting: type(of: error)))"])
                    }
                    set(true)
                    // Held until shutdown (the lanes and relays stop first) or until the connection is lost.
                    try await gracefulShutdown()
                }
            } catch  where Task.isCancelled || error is CancellationError {
                set(false)
                return
            } catch {
                logger.error(
                    "presence lost its database session",
                    metadata: ["worker": "\(worker)", "error": "\(String(describing: error).prefix(200))"])
            }
            set(false)
            await pause(.seconds(1))
        }
    }

    private func set(_ value: Bool) {
        held.withLock { $0 = value }
        changed.signal()
    }

    /// Waits until the presence is held (returns at once when it is), or until shutdown.
    func waitUntilHeld() async {
        while !isHeld && !Task.isShuttingDownGracefully && !Task.isCancelled {
            await changed.wait(timeout: .milliseconds(200))
        }
    }
}
