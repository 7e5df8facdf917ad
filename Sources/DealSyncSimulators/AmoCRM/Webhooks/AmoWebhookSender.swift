import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// Sends amoCRM webhooks with amoCRM's retry schedule: after any failure, retries after 5 and 15 minutes;
/// after a 499 or 5xx (or no answer), two more after 15 minutes and 1 hour. Delays are multiplied by the
/// time scale. Before every attempt the hub decides whether the hook may still receive (paused, disabled).
///
/// Not `WebhookDispatcher`: that one cannot stop retries to a hook disabled or paused meanwhile.
final class AmoWebhookSender: Service, Sendable {
    static let delays: [Duration] = [.seconds(300), .seconds(900), .seconds(900), .seconds(3600)]

    private let hub: AmoWebhookHub
    private let timeout: Duration
    private let timeScale: Double
    /// What retries wait on (`ContinuousClock` but in tests).
    private let clock: any Clock<Duration>
    private let stream: AsyncStream<AmoWebhookDelivery>
    private let continuation: AsyncStream<AmoWebhookDelivery>.Continuation
    private let inFlight = Mutex(0)
    private let logger: Logger

    init(
        hub: AmoWebhookHub, timeout: Duration, timeScale: Double, clock: any Clock<Duration> = ContinuousClock(),
        logger: Logger = Logger(label: "amocrm-webhooks", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.hub = hub
        self.timeout = timeout
        self.timeScale = timeScale
        self.clock = clock
        self.logger = logger
        (stream, continuation) = AsyncStream.makeStream(of: AmoWebhookDelivery.self)
    }

    /// Whether retry `index` (0 = first retry) follows a failure with `status` (`nil`: timeout or no connection).
    static func shouldRetry(_ index: Int, status: Int?) -> Bool {
        guard index < delays.count else { return false }
        if index < 2 { return true }
        guard let status else { return true }
        return status == 499 || (500..<600).contains(status)
    }

    func enqueue(_ delivery: AmoWebhookDelivery) {
        inFlight.withLock { $0 += 1 }
        continuation.yield(delivery)
    }

    /// Deliveries queued, being sent or waiting for a retry.
    var pending: Int { inFlight.withLock { $0 } }

    func run() async throws {
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(redirectConfiguration: .disallow, timeout: .init(connect: .init(timeout), read: .init(timeout))))
        await withDiscardingTaskGroup { group in
            for await delivery in stream.cancelOnGracefulShutdown() {
                group.addTask { await self.deliver(delivery, client: client) }
            }
            group.cancelAll()
        }
        try? await client.shutdown()
    }

    private func deliver(_ delivery: AmoWebhookDelivery, client: HTTPClient) async {
        defer { inFlight.withLock { $0 -= 1 } }
        var attempt = 0
        while !Task.isCancelled {
            guard hub.mayAttempt(delivery) else { return }
            attempt += 1
            let requestID = UUID().uuidString.lowercased()
            let status = await post(delivery, requestID: requestID, client: client)
            let succeeded = status.map { (100..<300).contains($0) } ?? false
            hub.record(
                AmoWebhookAttempt(
                    deliveryID: delivery.id, destination: delivery.destination, body: delivery.body, attempt: attempt,
                    status: status, succeeded: succeeded, requestID: requestID, at: Date(), isAutomation: delivery.isAutomation),
                at: .now)
            if succeeded { return }
            let retryIndex = attempt - 1
            guard Self.shouldRetry(retryIndex, status: status) else { return }
            do {
                try await clock.sleep(for: Self.delays[retryIndex] * timeScale)
            } catch {
                return
            }
        }
    }

    /// One POST bounded by the timeout as a whole (head and body).
    private func post(_ delivery: AmoWebhookDelivery, requestID: String, client: HTTPClient) async -> Int? {
        let timeout = self.timeout
        return await withTaskGroup(of: Int?.self) { group in
            group.addTask {
                do {
                    var request = HTTPClientRequest(url: delivery.destination)
                    request.method = .POST
                    request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                    request.headers.add(name: "User-Agent", value: "amoCRM-Webhooks/3.0")
                    request.headers.add(name: "X-Amocrm-Requestid", value: requestID)
                    request.body = .bytes(ByteBuffer(string: delivery.body))
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
            if first == nil { logger.debug("webhook delivery failed", metadata: ["delivery": "\(delivery.id)"]) }
            return first
        }
    }
}
