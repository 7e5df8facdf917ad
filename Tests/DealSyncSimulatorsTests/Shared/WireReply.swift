import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A simulator's response as the test saw it on the wire.
struct WireReply: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: String

    var contentType: String? { headers.first(name: "content-type") }
    func header(_ name: String) -> String? { headers.first(name: name) }

    /// The body as JSON (`[String: Any]`, `[Any]`...), or nil.
    var json: Any? { body.isEmpty ? nil : try? JSONSerialization.jsonObject(with: Data(body.utf8), options: [.fragmentsAllowed]) }
    var object: [String: Any] { json as? [String: Any] ?? [:] }
}

extension WireReply {
    /// Sends one request to a simulator: a JSON or form body, the headers given, and reads the whole answer.
    static func send(
        _ method: HTTPMethod, _ url: String, json: String? = nil, form: String? = nil, headers: [(String, String)] = []
    ) async throws -> WireReply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        } else if let form {
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: form))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 16 << 20)
        return WireReply(status: Int(response.status.code), headers: response.headers, body: String(buffer: body))
    }
}
