import HTTPTypes
import Hummingbird

/// A Bitrix24 REST error: `{"error": "<CODE>", "error_description": "<text>"}` with a non-200 status.
///
/// The CRM methods' own errors carry an empty code and status 400 (`{"error":"","error_description":"Not found"}`).
struct BitrixError: Error, Sendable, Equatable, HTTPResponseError {
    var status: HTTPResponse.Status
    var code: String
    var text: String

    init(_ status: HTTPResponse.Status, _ code: String, _ text: String) {
        self.status = status
        self.code = code
        self.text = text
    }

    var json: BitrixJSON { .object([("error", .string(code)), ("error_description", .string(text))]) }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        BitrixResponse.json(json, status: status)
    }

    // MARK: CRM method errors (empty code, 400)

    static func crm(_ text: String) -> BitrixError { BitrixError(.badRequest, "", text) }
    static let notFound = crm("Not found")
    static let invalidID = crm("ID is not defined or invalid.")
    static func mustBeArray(_ parameter: String) -> BitrixError { crm("Parameter '\(parameter)' must be array.") }

    // MARK: REST server errors

    static let methodNotFound = BitrixError(.notFound, "ERROR_METHOD_NOT_FOUND", "Method not found!")
    static let noAuth = BitrixError(.unauthorized, "NO_AUTH_FOUND", "Wrong authorization data")
    static let expiredToken = BitrixError(.unauthorized, "expired_token", "The access token provided has expired.")
    static let wrongAuthType = BitrixError(.forbidden, "WRONG_AUTH_TYPE", "Current authorization type is denied for this method")
    static let queryLimitExceeded = BitrixError(.serviceUnavailable, "QUERY_LIMIT_EXCEEDED", "Too many requests")
    static let operationTimeLimit = BitrixError(
        .tooManyRequests, "OPERATION_TIME_LIMIT",
        "Method is blocked due to operation time limit.")
    static let batchLengthExceeded = BitrixError(.badRequest, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
    static let batchMethodNotAllowed = BitrixError(
        .methodNotAllowed, "ERROR_BATCH_METHOD_NOT_ALLOWED",
        "Method is not allowed for batch usage")
    /// The application's subscription (Bitrix24.Market) has ended: its calls are refused until it is paid again.
    static let paymentRequired = BitrixError(
        .init(code: 402, reasonPhrase: "Payment Required"), "PAYMENT_REQUIRED",
        "Subscription has been ended")
    /// The portal's commercial plan has ended: REST answers no caller, application or inbound webhook.
    static let commercialPlansOnly = BitrixError(.forbidden, "ACCESS_DENIED", "REST API is available only on commercial plans")
    /// A token issued to another application (the app was installed again under a new client).
    static let wrongClient = BitrixError(.unauthorized, "wrong_client", "Wrong client")
    static let internalError = BitrixError(.internalServerError, "INTERNAL_SERVER_ERROR", "Internal server error")
    static let overload = BitrixError(.serviceUnavailable, "OVERLOAD_LIMIT", "REST API is blocked due to overload")
    static let handlerAlreadyBound = BitrixError(.badRequest, "ERROR_CORE", "Handler already binded")
    static func argumentMissing(_ name: String) -> BitrixError {
        BitrixError(.badRequest, "ERROR_ARGUMENT", "Argument '\(name)' is null or empty")
    }
}
