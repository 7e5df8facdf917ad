import Foundation
import HTTPTypes
import Hummingbird

extension MasterDealSimulator {
    /// An RFC 9457 problem: every MasterDeal error is `application/problem+json` `{type, title, status, detail}`.
    ///
    /// `type` is ``typeBase`` followed by a slug (`…/invalid-stage-transition`); some problems add members
    /// (`current_version` on 412). The description names the type only, never request data.
    public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
        public static let typeBase = "https://masterdeal.example/problems/"

        public var slug: String
        public var title: String
        public var statusCode: Int
        public var detail: String
        public var extra: [String: JSONValue]
        /// Extra response headers (`Retry-After`, `WWW-Authenticate`).
        public var headers: [String: String]

        public init(
            slug: String, title: String, status: Int, detail: String,
            extra: [String: JSONValue] = [:], headers: [String: String] = [:]
        ) {
            self.slug = slug
            self.title = title
            self.statusCode = status
            self.detail = detail
            self.extra = extra
            self.headers = headers
        }

        public var type: String { Self.typeBase + slug }

        public var description: String { "MasterDeal problem \(statusCode) \(slug)" }

        public var json: JSONValue {
            var members = extra
            members["type"] = .string(type)
            members["title"] = .string(title)
            members["status"] = .number(Double(statusCode))
            members["detail"] = .string(detail)
            return .object(members)
        }

        // MARK: The catalogue (documented in contracts/masterdeal.openapi.yaml)

        static func unauthorized() -> Problem {
            Problem(
                slug: "unauthorized", title: "Unauthorized", status: 401,
                detail: "A valid bearer token is required.", headers: ["WWW-Authenticate": "Bearer"])
        }

        static func notFound(_ what: String) -> Problem {
            Problem(slug: "not-found", title: "Not found", status: 404, detail: "\(what) does not exist.")
        }

        static func malformedJSON() -> Problem {
            Problem(slug: "malformed-json", title: "Malformed JSON", status: 400, detail: "The body is not valid JSON.")
        }

        static func invalidParameter(_ name: String, _ detail: String) -> Problem {
            Problem(
                slug: "invalid-parameter", title: "Invalid parameter", status: 400, detail: detail,
                extra: ["parameter": .string(name)])
        }

        static func invalidCursor() -> Problem {
            Problem(
                slug: "invalid-cursor", title: "Invalid cursor", status: 400,
                detail: "The cursor was not issued by this service.")
        }

        static func invalidIfMatch() -> Problem {
            Problem(
                slug: "invalid-if-match", title: "Invalid If-Match", status: 400,
                detail: "If-Match must be a deal version, quoted (\"3\") or bare (3).")
        }

        static func missingIdempotencyKey() -> Problem {
            Problem(
                slug: "idempotency-key-missing", title: "Idempotency-Key required", status: 400,
                detail: "Every write needs an Idempotency-Key header.")
        }

        static func invalidIdempotencyKey() -> Problem {
            Problem(
                slug: "idempotency-key-invalid", title: "Invalid Idempotency-Key", status: 400,
                detail: "An Idempotency-Key is at most 255 characters.")
        }

        static func idempotencyKeyReuse() -> Problem {
            Problem(
                slug: "idempotency-key-reuse", title: "Idempotency-Key reused", status: 422,
                detail: "This Idempotency-Key was used for a different request.")
        }

        static func validation(_ detail: String, pointer: String? = nil) -> Problem {
            Problem(
                slug: "validation-error", title: "Validation failed", status: 422, detail: detail,
                extra: pointer.map { ["pointer": .string($0)] } ?? [:])
        }

        static func invalidStageTransition(from: String, to: String, allowed: [String]) -> Problem {
            Problem(
                slug: "invalid-stage-transition", title: "Invalid stage transition", status: 422,
                detail: "The stage cannot change from \(from) to \(to).",
                extra: [
                    "current_stage": .string(from), "requested_stage": .string(to),
                    "allowed_stages": .array(allowed.map(JSONValue.string)),
                ])
        }

        static func preconditionFailed(currentVersion: Int) -> Problem {
            Problem(
                slug: "precondition-failed", title: "Precondition failed", status: 412,
                detail: "If-Match does not match the deal's current version.",
                extra: ["current_version": .number(Double(currentVersion))])
        }

        static func payloadTooLarge() -> Problem {
            Problem(
                slug: "payload-too-large", title: "Payload too large", status: 413,
                detail: "The body is larger than 1 MiB.")
        }

        static func rateLimited(retryAfterSeconds: Int?) -> Problem {
            Problem(
                slug: "rate-limited", title: "Too many requests", status: 429,
                detail: "The rate limit is exceeded; retry later.",
                headers: retryAfterSeconds.map { ["Retry-After": String($0)] } ?? [:])
        }

        static func unavailable() -> Problem {
            Problem(
                slug: "service-unavailable", title: "Service unavailable", status: 503,
                detail: "MasterDeal is temporarily unavailable.")
        }

        static func internalError() -> Problem {
            Problem(
                slug: "internal-error", title: "Internal server error", status: 500,
                detail: "The request failed on the server.")
        }

        static func fromHTTPStatus(_ status: Int) -> Problem {
            switch status {
            case 404: Problem(slug: "not-found", title: "Not found", status: 404, detail: "No such route.")
            case 405:
                Problem(
                    slug: "method-not-allowed", title: "Method not allowed", status: 405,
                    detail: "The route does not accept this method.")
            case 413: payloadTooLarge()
            case 400..<500:
                Problem(
                    slug: "bad-request", title: "Bad request", status: status,
                    detail: "The request is not acceptable.")
            default: internalError()
            }
        }
    }
}

extension MasterDealSimulator.Problem: HTTPResponseError {
    public var status: HTTPResponse.Status { HTTPResponse.Status(code: statusCode) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        response()
    }

    /// The problem+json response.
    func response() -> Response {
        var fields = HTTPFields()
        fields[.contentType] = "application/problem+json"
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) {
            if let name = HTTPField.Name(name) { fields[name] = value }
        }
        return Response(
            status: status, headers: fields,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: json.serialized())))
    }
}
