import HTTPTypes
import Hummingbird
import NIOCore

/// The bodies amoCRM answers with: HAL JSON on success, problem JSON on errors, nginx HTML pages at the edge.
enum AmoResponse {
    static let halContentType = "application/hal+json"
    static let problemContentType = "application/problem+json"

    /// A success body (`application/hal+json`).
    static func hal(_ body: AmoJSON, status: HTTPResponse.Status = .ok) -> Response {
        make(status: status, contentType: halContentType, text: body.text)
    }

    /// A control-route body (`application/json`).
    static func json(_ body: AmoJSON, status: HTTPResponse.Status = .ok) -> Response {
        make(status: status, contentType: "application/json", text: body.text)
    }

    /// `204 No Content` with an empty body: amoCRM's answer to an empty list or a missing lead.
    static func noContent() -> Response {
        Response(status: .noContent, headers: [:], body: .init())
    }

    /// The plain nginx error page amoCRM's edge serves for 429, 403 (blocked account), 502, 503 and 504.
    static func nginxPage(status: HTTPResponse.Status) -> Response {
        // nginx's own wording, which differs from the RFC phrase for 504.
        let phrase = status.code == 504 ? "Gateway Time-out" : status.reasonPhrase
        let title = "\(status.code) \(phrase)"
        let page =
            "<html>\r\n<head><title>\(title)</title></head>\r\n<body>\r\n<center><h1>\(title)</h1></center>\r\n"
            + "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        return make(status: status, contentType: "text/html", text: page)
    }

    static func make(status: HTTPResponse.Status, contentType: String, text: String) -> Response {
        let buffer = ByteBuffer(string: text)
        var headers = HTTPFields()
        headers[.contentType] = contentType
        headers[.contentLength] = String(buffer.readableBytes)
        return Response(status: status, headers: headers, body: .init(byteBuffer: buffer))
    }
}

/// One entry of `validation-errors[].errors[]`.
struct AmoValidationIssue: Error, Sendable, Equatable {
    var code: String
    var path: String
    var detail: String

    static func notSupportedChoice(_ path: String) -> AmoValidationIssue {
        AmoValidationIssue(code: "NotSupportedChoice", path: path, detail: "The value you selected is not a valid choice.")
    }

    static func invalidType(_ path: String, type: String) -> AmoValidationIssue {
        AmoValidationIssue(code: "InvalidType", path: path, detail: "This value should be of type \(type).")
    }

    static func missing(_ path: String) -> AmoValidationIssue {
        AmoValidationIssue(code: "FieldMissing", path: path, detail: "This field is missing.")
    }
}

/// The issues of one element of a batch, keyed by its `request_id`.
struct AmoValidationGroup: Sendable, Equatable {
    var requestID: String
    var issues: [AmoValidationIssue]
}

/// An amoCRM error answer (problem JSON), thrown by handlers.
struct AmoProblem: HTTPResponseError, Sendable {
    var status: HTTPResponse.Status
    var title: String
    var type: String
    var detail: String
    /// OAuth errors carry a `hint` first.
    var hint: String?
    /// The `status` member of the body, when amoCRM writes one that differs from the HTTP status.
    var bodyStatus: Int?
    var validation: [AmoValidationGroup] = []
    /// Rule violations keyed by lead id (`{"errors": {"<id>": "<message>"}}`), amoCRM's other 400 shape.
    var errors: [(leadID: Int, message: String)] = []

    var json: AmoJSON {
        var members: [(String, AmoJSON)] = []
        if let hint { members.append(("hint", .string(hint))) }
        if !errors.isEmpty { members.append(("errors", .object(errors.map { (String($0.leadID), .string($0.message)) }))) }
        if !validation.isEmpty {
            members.append(
                (
                    "validation-errors",
                    .array(
                        validation.map { group in
                            .object([
                                ("request_id", .string(group.requestID)),
                                (
                                    "errors",
                                    .array(
                                        group.issues.map {
                                            .object([
                                                ("code", .string($0.code)), ("path", .string($0.path)), ("detail", .string($0.detail)),
                                            ])
                                        })
                                ),
                            ])
                        })
                ))
        }
        members += [
            ("title", .string(title)), ("type", .string(type)), ("status", .int(bodyStatus ?? Int(status.code))),
            ("detail", .string(detail)),
        ]
        return .object(members)
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        AmoResponse.make(status: status, contentType: AmoResponse.problemContentType, text: json.text)
    }

    static func httpStatus(_ status: HTTPResponse.Status, detail: String) -> AmoProblem {
        AmoProblem(status: status, title: status.reasonPhrase, type: "https://httpstatus.es/\(status.code)", detail: detail)
    }

    static let unauthorized = httpStatus(.unauthorized, detail: "Неверный логин или пароль")
    static let paymentRequired = httpStatus(.init(code: 402, reasonPhrase: "Payment Required"), detail: "Subscription expired")
    static let forbidden = httpStatus(.forbidden, detail: "Access denied")
    static let notFound = httpStatus(.notFound, detail: "Not found")

    static func badRequest(_ detail: String) -> AmoProblem { httpStatus(.badRequest, detail: detail) }

    static func validation(_ groups: [AmoValidationGroup]) -> AmoProblem {
        var problem = httpStatus(.badRequest, detail: "Request validation failed")
        problem.validation = groups
        return problem
    }

    /// A write that breaks one of amoCRM's rules: no `validation-errors`, the message keyed by the lead's id.
    static func invalidRequestBody(_ errors: [(leadID: Int, message: String)]) -> AmoProblem {
        var problem = httpStatus(.badRequest, detail: "Invalid request body")
        problem.errors = errors
        return problem
    }
}
