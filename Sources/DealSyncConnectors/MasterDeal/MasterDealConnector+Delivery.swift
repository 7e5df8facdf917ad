import DealSyncCore
import Foundation
import Logging
import NIOHTTP1

extension MasterDealConnector {
    /// Writes each delivery with its idempotency key: a create is `POST /v1/deals`, an update a merge-patch with
    /// `If-Match` on the version dealsync knows. A 412 means the deal changed meanwhile: it is read again and
    /// re-decided instead of overwritten.
    public func deliver(_ deliveries: [Delivery]) async -> [DeliveryOutcome] {
        var outcomes: [DeliveryOutcome] = []
        for delivery in deliveries {
            outcomes.append(await deliver(delivery))
        }
        return outcomes
    }

    func deliver(_ delivery: Delivery) async -> DeliveryOutcome {
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
        let detail = response.excerpt(redacting: secretTexts)
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
