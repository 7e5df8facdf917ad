import DealSyncCore
import Foundation
import Logging
import NIOHTTP1
import Tracing

extension MasterDealConnector {
    /// Writes each delivery with its idempotency key: a create is `POST /v1/deals`, an update a merge-patch with
    /// `If-Match` on the version dealsync knows. A 412 means the deal changed meanwhile: it is read again and
    /// re-decided instead of overwritten.
    ///
    /// Writes to different deals go at once (up to ``concurrentDeliveries``), each within the rate limit; writes to
    /// one deal go one after the other, in order. Outcomes come back in the order of `deliveries`.
    public func deliver(_ deliveries: [Delivery]) async -> [DeliveryOutcome] {
        if case .kafka(_, let topic) = config.writes {
            guard let producer else {
                return deliveries.map { _ in .paused(.auth, status: nil, reason: "writes go to Kafka but no producer was started") }
            }
            return await publish(deliveries, topic: topic, producer: producer)
        }
        var queues: [[Int]] = []
        var queueOfRecord: [String: Int] = [:]
        for (index, delivery) in deliveries.enumerated() {
            guard let record = delivery.recordID else {
                queues.append([index])
                continue
            }
            if let queue = queueOfRecord[record] {
                queues[queue].append(index)
            } else {
                queueOfRecord[record] = queues.count
                queues.append([index])
            }
        }
        return await withTaskGroup(of: [(Int, DeliveryOutcome)].self) { group in
            var outcomes = [DeliveryOutcome?](repeating: nil, count: deliveries.count)
            var next = 0
            func start() {
                guard next < queues.count else { return }
                let queue = queues[next]
                next += 1
                group.addTask {
                    var results: [(Int, DeliveryOutcome)] = []
                    for index in queue { results.append((index, await self.deliver(deliveries[index]))) }
                    return results
                }
            }
            for _ in 0..<min(Self.concurrentDeliveries, queues.count) { start() }
            while let results = await group.next() {
                for (index, outcome) in results { outcomes[index] = outcome }
                start()
            }
            return outcomes.map { $0 ?? .retryable(.serverError, status: nil, detail: "not sent", retryAfter: nil) }
        }
    }

    /// How many writes to MasterDeal one relay round sends at once.
    static let concurrentDeliveries = 8

    /// One delivery in a span of its own, continuing the trace of the change that caused it; the HTTP client's span
    /// (and the `traceparent` MasterDeal receives) are its children.
    func deliver(_ delivery: Delivery) async -> DeliveryOutcome {
        await withSpan(
            "deliver \(delivery.operation == .create ? "create" : "update") masterdeal",
            context: TraceContext.context(traceParent: delivery.traceParent), ofKind: .client
        ) { span in
            span.attributes["dealsync.target"] = config.id
            span.attributes["dealsync.lineage_id"] = delivery.lineageID.uuidString.lowercased()
            if let record = delivery.recordID { span.attributes["dealsync.master_deal_id"] = record }
            span.attributes["dealsync.attempt"] = delivery.attempt + 1
            let outcome = await send(delivery)
            span.attributes["dealsync.outcome"] = outcome.name
            return outcome
        }
    }

    func send(_ delivery: Delivery) async -> DeliveryOutcome {
        let body = MasterDealRecord.body(for: delivery.values).data()
        var headers = headers([("Content-Type", "application/json"), ("Idempotency-Key", delivery.idempotencyKey)])
        let method: String
        let path: String
        switch delivery.operation {
        case .create:
            method = "POST"
            path = "/v1/deals"
        case .update:
            guard let id = delivery.recordID else {
                return .permanent(.validation, status: nil, detail: "no MasterDeal deal id for an update")
            }
            method = "PATCH"
            path = "/v1/deals/\(Self.escape(id))"
            if let version = delivery.knownVersion { headers.append(("If-Match", "\"\(version)\"")) }
        }
        do {
            try await limiter.acquire()
        } catch {
            return .retryable(.timeout, status: nil, detail: "cancelled while waiting for the rate limiter", retryAfter: nil)
        }
        let response: HTTPResponse
        do {
            response = try await transport.send(
                method == "POST" ? .POST : .PATCH, config.baseURL + path, headers: headers, body: body,
                timeout: config.delivery.requestTimeout, lineage: delivery.lineageID, secrets: secretTexts)
        } catch {
            return .retryable(error.errorClass, status: nil, detail: error.description, retryAfter: nil)
        }
        return await outcome(of: response, delivery: delivery)
    }

    func outcome(of response: HTTPResponse, delivery: Delivery) async -> DeliveryOutcome {
        // Only failures keep an excerpt of the answer (redacting it costs more than the rest of a success).
        var detail: String { response.excerpt(redacting: secretTexts) }
        switch response.status {
        case 200, 201:
            guard let deal = JSONValue.parse(response.body), let parsed = MasterDealRecord.parse(deal) else {
                return .retryable(.serverError, status: response.status, detail: "a success without a deal", retryAfter: nil)
            }
            return .delivered(recordID: parsed.id, landedAt: parsed.stamp)
        case 412:
            let refetched = try? await fetch([delivery.recordID ?? ""], lineage: delivery.lineageID).first
            return .stale(refetched: refetched)
        case 404:
            return .permanent(.notFound, status: 404, detail: detail)
        case 400, 409, 422:
            return .permanent(.validation, status: response.status, detail: detail)
        case 401, 403:
            return .paused(.auth, status: response.status, reason: "MasterDeal refused the service token (HTTP \(response.status))")
        case 429:
            return .retryable(.rateLimited, status: 429, detail: detail, retryAfter: Self.retryAfter(response))
        case 503:
            return .retryable(.serverError, status: 503, detail: detail, retryAfter: Self.retryAfter(response))
        default:
            return .retryable(.serverError, status: response.status, detail: detail, retryAfter: nil)
        }
    }

    static func retryAfter(_ response: HTTPResponse) -> Duration? {
        response.header("Retry-After").flatMap(Int.init).map { .seconds($0) }
    }
}
