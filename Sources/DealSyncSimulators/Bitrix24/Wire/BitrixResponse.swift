import HTTPTypes
import Hummingbird
import NIOCore

/// The bodies the simulated portal answers with.
enum BitrixResponse {
    static let contentType = "application/json; charset=utf-8"

    static func json(_ body: BitrixJSON, status: HTTPResponse.Status = .ok) -> Response {
        make(status: status, contentType: contentType, text: body.text)
    }

    /// A method's success: `{"result": ..., "next": n, "total": t, "time": {...}}` (`next` only when more rows exist,
    /// `total` only from list methods).
    static func success(_ outcome: BitrixOutcome, time: BitrixTimeBlock) -> Response {
        json(.object(envelope(outcome) + [("time", time.json)]))
    }

    static func envelope(_ outcome: BitrixOutcome) -> [(String, BitrixJSON)] {
        var members: [(String, BitrixJSON)] = [("result", outcome.result)]
        if let next = outcome.next { members.append(("next", .int(next))) }
        if let total = outcome.total { members.append(("total", .int(total))) }
        return members
    }

    /// nginx's page for a request that hung past the gateway's patience.
    static func gatewayTimeout() -> Response {
        let page =
            "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n"
            + "<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        return make(status: .gatewayTimeout, contentType: "text/html", text: page)
    }

    /// A moved portal: `302` to the same path and query on the new address.
    static func moved(to location: String) -> Response {
        var response = make(status: .found, contentType: "text/html; charset=UTF-8", text: "")
        response.headers[.location] = location
        return response
    }

    static func noContent() -> Response { Response(status: .noContent, headers: [:], body: .init()) }

    static func make(status: HTTPResponse.Status, contentType: String, text: String) -> Response {
        let buffer = ByteBuffer(string: text)
        var headers = HTTPFields()
        headers[.contentType] = contentType
        headers[.contentLength] = String(buffer.readableBytes)
        return Response(status: status, headers: headers, body: .init(byteBuffer: buffer))
    }
}
