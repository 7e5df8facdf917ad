import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// Sends a simulator's outbound webhooks with the retry behaviour of the service it plays.
///
/// amoCRM retries on a fixed schedule and disables failing hooks, Bitrix24 never retries, MasterDeal retries
/// with backoff: each simulator passes its own ``RetryPolicy``. Every attempt is recorded for assertions.
public final class WebhookDispatcher: Service, Sendable {
    public struct Delivery: Sendable {
        public var url: String
        public var headers: [(String, String)]
        public var body: String
        /// Called before each attempt to refresh time-dependent headers (signatures with a timestamp).
        public var prepare: (@Sendable (inout [(String, String)], String) -> Void)?

        public init(
            url: String, headers: [(String, String)], body: String,
            prepare: (@Sendable (inout [(String, String)], String) -> Void)? = nil
        ) {
            self.url = url
            self.headers = headers
            self.body = body
            self.prepare = prepare
        }
    }

    public struct RetryPolicy: Sendable {
        /// Delay before retry n (index 0 is the first retry); no entry means no more retries.
        public var delays: [Duration]
        /// Whether a failure (HTTP status, or nil for a network error or timeout) earns retry `index`.
        public var shouldRetry: @Sendable (_ retryIndex: Int, _ status: Int?) -> Bool
        /// How long a receiver may take before the attempt counts as failed.
        public var timeout: Duration
        /// Multiplies every delay (tests and the demo run amoCRM's hour-long schedule in seconds).
        public var timeScale: Double

        public init(
            delays: [Duration], timeout: Duration, timeScale: Double = 1,
            shouldRetry: @escaping @Sendable (Int, Int?) -> Bool = { _, _ in true }
        ) {
            self.delays = delays
            self.timeout = timeout
            self.timeScale = timeScale
            self.shouldRetry = shouldRetry
        }

        public static let never = RetryPolicy(delays: [], timeout: .seconds(10))
    }

    public struct Attempt: Sendable, Equatable {
        public var url: String
        public var status: Int?
        public var succeeded: Bool
        public var attempt: Int
        public var at: Date
    }

    private let policy: RetryPolicy
    private let stream: AsyncStream<Delivery>
    private let continuation: AsyncStream<Delivery>.Continuation
    private let attempts = Mutex<[Attempt]>([])
    private let inFlight = Mutex(0)
    private let logger: Logger
    /// Called after each failed attempt with the URL (amoCRM uses it to disable hooks).
    private let onFailure: (@Sendable (String) -> Void)?

    public init(
        policy: RetryPolicy, logger: Logger = Logger(label: "webhooks", factory: { _ in SwiftLogNoOpLogHandler() }),
        onFailure: (@Sendable (String) -> Void)? = nil
    ) {
        self.policy = policy
        self.logger = logger
        self.onFailure = onFailure
        (stream, continuation) = AsyncStream.makeStream(of: Delivery.self)
    }

    /// Queues a delivery; it is sent once the dispatcher runs.
    public func send(_ delivery: Delivery) {
        inFlight.withLock { $0 += 1 }
        continuation.yield(delivery)
    }

    /// Every attempt so far, oldest first.
    public var history: [Attempt] { attempts.withLock { $0 } }

    /// Deliveries queued or being retried.
    public var pending: Int { inFlight.withLock { $0 } }

    public func run() async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        await withDiscardingTaskGroup { group in
            for await delivery in stream.cancelOnGracefulShutdown() {
                group.addTask { await self.deliver(delivery, client: client) }
            }
            group.cancelAll()
        }
        try? await client.shutdown()
    }

    private func deliver(_ delivery: Delivery, client: HTTPClient) async {
        defer { inFlight.withLock { $0 -= 1 } }
        var attempt = 0
        while !Task.isCancelled {
            attempt += 1
            let status = await post(delivery, client: client)
            let ok = status.map { (200..<300).contains($0) } ?? false
            attempts.withLock {
                $0.append(Attempt(url: delivery.url, status: status, succeeded: ok, attempt: attempt, at: Date()))
            }
            if ok { return }
            onFailure?(delivery.url)
            let retryIndex = attempt - 1
            guard retryIndex < policy.delays.count, policy.shouldRetry(retryIndex, status) else { return }
            let delay = policy.delays[retryIndex] * policy.timeScale
            try? await Task.sleep(for: delay)
        }
    }

    private func post(_ delivery: Delivery, client: HTTPClient) async -> Int? {
        var request = HTTPClientRequest(url: delivery.url)
        request.method = .POST
        var headers = delivery.headers
        delivery.prepare?(&headers, delivery.body)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: delivery.body))
        do {
            let response = try await client.execute(request, timeout: .init(policy.timeout))
            _ = try? await response.body.collect(upTo: 1 << 20)
            return Int(response.status.code)
        } catch {
            logger.debug("webhook delivery failed", metadata: ["url": "\(delivery.url)"])
            return nil
        }
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
