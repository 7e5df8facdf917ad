import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// Posts events to handlers the way Bitrix24's queue server does: after the queue delay, once, never again on
/// failure (logged and counted); a handler that answered slowly is deprioritised from then on (extra delay).
///
/// Not `WebhookDispatcher`: each attempt is recorded with its event and handler, and the deprioritising delay
/// depends on how the same handler answered before.
final class BitrixEventSender: Service, Sendable {
    private let hub: BitrixEventHub
    private let delivery: Bitrix24Simulator.EventDelivery
    private let stream: AsyncStream<BitrixEventDelivery>
    private let continuation: AsyncStream<BitrixEventDelivery>.Continuation
    private let inFlight = Mutex(0)
    private let logger: Logger

    init(hub: BitrixEventHub, delivery: Bitrix24Simulator.EventDelivery, logger: Logger) {
        self.hub = hub
        self.delivery = delivery
        self.logger = logger
        (stream, continuation) = AsyncStream.makeStream(of: BitrixEventDelivery.self)
    }

    func enqueue(_ item: BitrixEventDelivery) {
        inFlight.withLock { $0 += 1 }
        continuation.yield(item)
    }

    /// Events queued or being sent.
    var pending: Int { inFlight.withLock { $0 } }

    func run() async throws {
        let timeout = TimeAmount(delivery.timeout)
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(redirectConfiguration: .disallow, timeout: .init(connect: timeout, read: timeout)))
        await withDiscardingTaskGroup { group in
            for await item in stream.cancelOnGracefulShutdown() {
                group.addTask { await self.deliver(item, client: client) }
            }
            group.cancelAll()
        }
        try? await client.shutdown()
    }

    private func deliver(_ item: BitrixEventDelivery, client: HTTPClient) async {
        defer { inFlight.withLock { $0 -= 1 } }
        let handler = item.subscription.handler
        let deprioritised = hub.isSlow(handler)
        let wait = delivery.queueDelay + (deprioritised ? delivery.deprioritisedDelay : .zero)
        if wait > .zero {
            do { try await Task.sleep(for: wait) } catch { return }
        }
        let started = ContinuousClock.now
        let status = await post(item, client: client)
        let elapsed = ContinuousClock.now - started
        let succeeded = status.map { (200..<300).contains($0) } ?? false
        if elapsed > delivery.slowResponseThreshold { hub.setSlow(handler, true) }
        hub.record(
            BitrixEventAttempt(
                deliveryID: item.id, event: item.subscription.event, handlerID: item.subscription.id, handler: handler,
                dealID: item.dealID, body: item.body, status: status, succeeded: succeeded, deprioritised: deprioritised, at: Date(),
                responseMillis: Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)))
        if !succeeded {
            logger.warning(
                "event delivery failed, not retried",
                metadata: [
                    "event": "\(item.subscription.event)", "handler_id": "\(item.subscription.id)",
                    "status": "\(status.map(String.init) ?? "none")",
                ])
        }
    }

    /// One POST bounded by the timeout as a whole.
    private func post(_ item: BitrixEventDelivery, client: HTTPClient) async -> Int? {
        let timeout = delivery.timeout
        return await withTaskGroup(of: Int?.self) { group in
            group.addTask {
                do {
                    var request = HTTPClientRequest(url: item.subscription.handler)
                    request.method = .POST
                    request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                    request.headers.add(name: "User-Agent", value: "Bitrix24 Webhook Engine")
                    request.body = .bytes(ByteBuffer(string: item.body))
                    let response = try await client.execute(request, timeout: .init(timeout))
                    _ = try await response.body.collect(upTo: 1 << 20)
                    return Int(response.status.code)
                } catch {
                    return nil
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}
