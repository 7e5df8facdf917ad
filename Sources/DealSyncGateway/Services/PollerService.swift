import DealSyncConnectors
import DealSyncCore
import DealSyncStore
import Foundation
import Logging
import ServiceLifecycle
import Tracing

/// Polls one connector for what webhooks missed, storing each page with its cursor in one transaction. A poll the
/// CRM refuses for a cause only a person can fix (``ConnectorPaused``) pauses the connector with its reason, as a
/// refused write does; polling waits until a probe write or `dealsync connector resume` resumes it.
final class PollerService: Service {
    let connector: any Connector
    let polls: PollStore
    let status: ConnectorStatusStore
    let metrics: GatewayMetrics
    let inboxWakeup: Wakeup
    let logger: Logger
    /// The gateway's configuration, when it can be reloaded: each sweep polls with the current mapping (pipeline).
    let generations: CurrentGeneration?

    init(
        connector: any Connector, polls: PollStore, status: ConnectorStatusStore, metrics: GatewayMetrics,
        inboxWakeup: Wakeup, logger: Logger, generations: CurrentGeneration? = nil
    ) {
        self.connector = connector
        self.generations = generations
        self.polls = polls
        self.status = status
        self.metrics = metrics
        self.inboxWakeup = inboxWakeup
        self.logger = logger
    }

    var id: String { connector.config.id }

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                if try await status.paused()[id] == nil {
                    try await sweep()
                }
            } catch  where Task.isCancelled || error is CancellationError {  // it may arrive wrapped, e.g. in a transaction error
                return
            } catch let refusal as ConnectorPaused {
                metrics.poll(id, result: "failed")
                await pauseConnector(refusal)
            } catch {
                metrics.poll(id, result: "failed")
                logger.warning("poll failed", metadata: ["connector": "\(id)", "error": "\(String(describing: error).prefix(200))"])
            }
            await pause(connector.config.poll.interval)
        }
    }

    private func pauseConnector(_ refusal: ConnectorPaused) async {
        do {
            try await status.pause(id, reason: refusal.reason)
            metrics.paused(id, true)
            if refusal.errorClass == .auth { metrics.authFailure(id) }
            logger.error("connector paused", metadata: ["connector": "\(id)", "reason": "\(refusal.reason)"])
        } catch {
            logger.warning(
                "connector could not be paused", metadata: ["connector": "\(id)", "error": "\(String(describing: error).prefix(200))"])
        }
    }

    /// Reads every page now (used by the loop, `drift sweep` and tests).
    func sweep() async throws {
        var pages = 0
        let connector = generations?.current.registry.connector(id) ?? self.connector
        repeat {
            let cursor = try await startingCursor()
            // Each page is a span, and what it stored carries it: the changes found start their traces here.
            let (result, stored) = try await withSpan("poll \(connector.config.kind.rawValue)", ofKind: .client) { span in
                span.attributes["dealsync.connector"] = id
                var result = try await connector.poll(from: cursor)
                let trace = TraceContext.headers()
                for index in result.items.indices { result.items[index].headers.merge(trace) { $1 } }
                let stored = try await polls.store(result.items, cursor: result.cursor, connector: id)
                span.attributes["dealsync.items"] = result.items.count
                return (result, stored)
            }
            metrics.poll(id, result: "ok", items: stored)
            if stored > 0 { inboxWakeup.signal() }
            pages += 1
            guard result.hasMore, pages < 1000, !Task.isShuttingDownGracefully else { return }
        } while true
    }

    /// The stored cursor; for a connector that was never polled, the start `poll.start` asks for, stored first so
    /// every later sweep (and every process) continues from it. `nil` reads from the beginning.
    private func startingCursor() async throws -> String? {
        if let stored = try await polls.cursor(connector: id) { return stored }
        guard let start = connector.config.poll.firstInstant(now: Date()) else { return nil }
        let cursor = try await polls.begin(at: connector.pollCursor(startingAt: start), connector: id)
        logger.info("poll starts", metadata: ["connector": "\(id)", "from": "\(Timestamp.iso8601(millis: start))"])
        return cursor
    }
}
