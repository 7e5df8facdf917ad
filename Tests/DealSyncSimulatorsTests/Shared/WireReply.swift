import Foundation
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
