import Crypto
import Foundation
import Synchronization

extension MasterDealSimulator {
    /// Signs events and hands them to the ``WebhookDispatcher`` with MasterDeal's retry schedule.
    ///
    /// Headers: `Content-Type: application/json`, `X-Event-Id`, `X-Event-Type` and
    /// `X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, recomputed at each attempt.
    struct EventPublisher: Sendable {
        /// Retry delays after a non-2xx answer or a timeout; then MasterDeal gives up.
        static let retryDelays: [Duration] = [.seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30), .seconds(60)]

        let dispatcher: WebhookDispatcher
        /// Where events also go when the simulator publishes to a Kafka topic (``MasterDealBus``).
        let bus = BusHook()

        init(timeScale: Double, timeout: Duration) {
            dispatcher = WebhookDispatcher(
                policy: WebhookDispatcher.RetryPolicy(delays: Self.retryDelays, timeout: timeout, timeScale: timeScale))
        }

        func publish(_ outgoing: [State.Outgoing]) {
            if let sink = bus.sink.withLock({ $0 }) { sink(outgoing.filter { !$0.dropped }.map(\.event)) }
            for item in outgoing {
                let body = item.event.json.text
                for target in item.targets {
                    let secret = target.secret
                    dispatcher.send(
                        WebhookDispatcher.Delivery(
                            url: target.url,
                            headers: [
                                ("Content-Type", "application/json"),
                                ("X-Event-Id", item.event.id),
                                ("X-Event-Type", item.event.type.rawValue),
                            ],
                            body: body,
                            prepare: { headers, body in
                                headers.removeAll { $0.0.lowercased() == "x-signature" }
                                let now = Int64(Date().timeIntervalSince1970)
                                headers.append(("X-Signature", MasterDealSimulator.signature(secret: secret, body: body, timestamp: now)))
                            }))
                }
            }
        }
    }

    /// Where emitted events go besides the webhook targets.
    final class BusHook: Sendable {
        let sink = Mutex<(@Sendable ([Event]) -> Void)?>(nil)
    }

    /// The `X-Signature` value for `body` signed at `timestamp` (unix seconds):
    /// `t=<timestamp>,v1=<lowercase hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
    public static func signature(secret: String, body: String, timestamp: Int64) -> String {
        let key = SymmetricKey(data: Data(secret.utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(timestamp).\(body)".utf8), using: key)
        return "t=\(timestamp),v1=\(HexText.lower(mac))"
    }
}
