import DealSyncConnectors
import DealSyncCore
import DealSyncStore
import Foundation
import Logging
import ServiceLifecycle

/// Works through the inbox after the webhooks have been answered: decodes, fetches id-only records, and
/// commits each row's decisions in one transaction.
final class IntakeService: Service {
    let processor: SyncProcessor
    let claims: OutboxClaims
    let registry: ConnectorRegistry
    let metrics: GatewayMetrics
    let inboxWakeup: Wakeup
    let outboxWakeup: Wakeup
    let workers: Int
    /// The process's worker name (its relays' presence), recorded on the fetches it starts.
    let worker: String
    let logger: Logger

    init(processor: SyncProcessor, claims: OutboxClaims, registry: ConnectorRegistry, metrics: GatewayMetrics, inboxWakeup: Wakeup,
         outboxWakeup: Wakeup, workers: Int, worker: String, logger: Logger) {
        self.processor = processor
        self.claims = claims
        self.registry = registry
        self.metrics = metrics
        self.inboxWakeup = inboxWakeup
        self.outboxWakeup = outboxWakeup
        self.workers = workers
        self.worker = worker
        self.logger = logger
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                // The workers run while this process is present, so that a fetch it started is left to it while it
                // lives, and taken over soon after it dies. Presence is held until the workers have stopped.
                try await claims.whilePresent(worker: worker) { [self] in
                    await withDiscardingTaskGroup { group in
                        for _ in 0..<workers {
                            group.addTask { await self.loop() }
                        }
                    }
                }
                return
            } catch where Task.isCancelled || error is CancellationError {
                return
            } catch {
                logger.error("intake lost its database session", metadata: ["error": "\(String(describing: error).prefix(200))"])
                await pause(.seconds(1))
            }
        }
    }

    private func loop() async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let idle = try await step()
                if idle { await inboxWakeup.wait(timeout: .milliseconds(250)) }
            } catch {
                logger.error("intake step failed", metadata: ["error": "\(String(reflecting: type(of: error)))"])
                await pause(.seconds(1))
            }
        }
    }

    /// Processes one row; returns true when there was nothing to do.
    func step() async throws -> Bool {
        let registry = self.registry
        let step = try await processor.processNext(decode: { try registry.decode($0) }, worker: worker)
        switch step {
        case .idle:
            return true
        case .processed(_, let writes, _):
            if writes > 0 { outboxWakeup.signal() }
        case .ignored, .deferred:
            break
        case .failed(let id, let error):
            logger.warning("inbox row failed", metadata: ["inbox_id": "\(id)", "error": "\(error.prefix(200))"])
        case .fetch(let id, let requests, let lineage):
            await fetch(inboxID: id, requests: requests, lineage: lineage)
        }
        return false
    }

    private func fetch(inboxID: Int64, requests: [FetchRequest], lineage: UUID) async {
        do {
            var items: [InboxItem] = []
            for (connectorID, group) in Dictionary(grouping: requests, by: \.connector) {
                guard let connector = registry.connector(connectorID) else { continue }
                items += try await connector.fetch(group.map(\.recordID), lineage: lineage)
            }
            if try await processor.completeFetch(inboxID: inboxID, fetched: items, worker: worker) {
                inboxWakeup.signal()
            } else {
                logger.info("fetch taken over by another process; its result is the one kept", metadata: ["inbox_id": "\(inboxID)"])
            }
        } catch {
            for connector in Set(requests.map(\.connector)) { metrics.inbox(connector, result: "fetch_failed") }
            logger.warning("fetch failed", metadata: [
                "inbox_id": "\(inboxID)", "lineage_id": "\(lineage.uuidString.lowercased())", "error": "\(String(describing: error).prefix(200))",
            ])
            try? await processor.retryFetch(inboxID, worker: worker, error: "fetch failed: \(error)", delaySeconds: 2)
        }
    }
}
