import DealSyncConnectors
import DealSyncCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Reads a webhook's body only once its head is in order: the connector's URL secret, the signature header's
/// form and age, the content type and the declared length are checked first, so a caller who cannot pass them
/// gets its answer at once and the gateway never buffers its body.
struct WebhookReader: Sendable {
    /// Bodies larger than this are refused with 413 (per connector it may be less: ``ConnectorConfig/webhookBodyLimit(ceiling:)``).
    let bodyLimit: Int
    let metrics: GatewayMetrics
    let logger: Logger

    enum Outcome {
        case read(WebhookRequest)
        case refused(Response)
    }

    func read(_ request: Request, connector: any Connector, pathSecret: String?) async -> Outcome {
        let id = connector.config.id
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let limit = connector.config.webhookBodyLimit(ceiling: bodyLimit)
        let declared = request.headers[.contentLength].flatMap { Int($0) ?? Int($0.trimmingCharacters(in: .whitespaces)) }
        let head = WebhookHead(pathSecret: pathSecret, headers: headers, declaredLength: declared)
        do {
            try connector.config.checkHead(head, bodyLimit: limit)
        } catch {
            return .refused(refusal(error, connector: connector, pathSecret: pathSecret))
        }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            return .refused(
                refusal(WebhookRejection(.tooLarge, "body larger than \(limit) bytes"), connector: connector, pathSecret: pathSecret))
        } catch {
            // The caller went away or was too slow (the server's read timeout closed the connection).
            metrics.webhook(id, outcome: "incomplete")
            logger.info("webhook body not received", metadata: ["connector": "\(id)"])
            return .refused(GatewayRoutes.json(.badRequest, ["error": "incomplete body"]))
        }
        return .read(WebhookRequest(pathSecret: pathSecret, headers: headers, body: Data(body.readableBytesView)))
    }

    /// The answer to a refused webhook, counted where the rejection alerts look. A wrong URL secret is answered
    /// like an unknown address, but it is a failed authentication and is counted with the others.
    func refusal(_ error: WebhookRejection, connector: any Connector, pathSecret: String?) -> Response {
        let id = connector.config.id
        let usesPathSecret = if case .pathSecret = connector.config.webhook { true } else { false }
        let kind: WebhookRejection.Kind = error.kind == .notFound && pathSecret != nil && usesPathSecret ? .unauthorized : error.kind
        switch kind {
        case .notFound, .tooLarge, .unsupportedMediaType: metrics.webhook(id, outcome: kind.rawValue)
        case .unauthorized, .stale, .malformed, .ignored: metrics.webhook(id, outcome: "rejected_\(kind.rawValue)")
        }
        if kind == .unauthorized || kind == .stale { metrics.authFailure(id) }
        if kind == .tooLarge {
            logger.warning(
                "webhook body too large",
                metadata: ["connector": "\(id)", "limit": "\(connector.config.webhookBodyLimit(ceiling: bodyLimit))"])
        } else {
            logger.warning("webhook rejected", metadata: ["connector": "\(id)", "reason": "\(error.reason)"])
        }
        return error.response
    }
}
