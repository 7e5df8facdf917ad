import DealSyncConnectors
import HTTPTypes
import Hummingbird

/// A refused webhook is an HTTP error: its status, and a JSON body with the reason. An unknown address (or a wrong
/// URL secret) says only "not found", so a caller learns nothing about which connectors exist.
extension WebhookRejection: HTTPResponseError {
    public var status: HTTPResponse.Status { HTTPResponse.Status(code: statusCode) }

    public func response(from request: Request, context: some RequestContext) throws -> Response { response }

    var response: Response { GatewayRoutes.json(status, ["error": kind == .notFound ? "not found" : reason]) }
}
