import Foundation
import HTTPTypes
import Hummingbird

extension MasterDealSimulator {
    /// Request and response plumbing shared by the API and control routes.
    enum HTTP {
        static let maxBodyBytes = 1 << 20

        static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
        static let replayed = HTTPField.Name("Idempotent-Replayed")!

        /// The raw body, at most 1 MiB (413 beyond).
        static func body(of request: Request) async throws -> Data {
            var request = request
            do {
                let buffer = try await request.collectBody(upTo: maxBodyBytes)
                return Data(buffer.readableBytesView)
            } catch let error as HTTPError where error.status == .contentTooLarge {
                throw Problem.payloadTooLarge()
            }
        }

        /// The body parsed as JSON (400 `malformed-json` otherwise).
        static func json(_ data: Data) throws -> JSONValue {
            do {
                return try JSONValue.parse(data)
            } catch {
                throw Problem.malformedJSON()
            }
        }

        /// `If-Match: "<version>"` (quoted, bare or weak); nil when absent or `*`.
        static func ifMatch(_ request: Request) throws -> Int? {
            guard var text = request.headers[.ifMatch]?.trimmingCharacters(in: .whitespaces) else { return nil }
            if text == "*" { return nil }
            if text.hasPrefix("W/") { text.removeFirst(2) }
            if text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") { text = String(text.dropFirst().dropLast()) }
            guard let version = Int(text), version >= 1 else { throw Problem.invalidIfMatch() }
            return version
        }

        /// The client name behind `Authorization: Bearer <token>` (401 otherwise).
        static func client(of request: Request, tokens: [String: String]) throws -> String {
            guard let header = request.headers[.authorization], header.count > 7,
                header.prefix(7).lowercased() == "bearer ",
                let client = tokens[String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)]
            else { throw Problem.unauthorized() }
            return client
        }

        /// A JSON response.
        static func response(_ status: Int, _ json: JSONValue, headers: [String: String] = [:]) -> Response {
            StoredResponse(status: status, json: json, headers: headers).response(replayed: false)
        }
    }
}

extension MasterDealSimulator.StoredResponse {
    init(status: Int, json: MasterDealSimulator.JSONValue, headers: [String: String] = [:]) {
        var all = headers
        all["Content-Type"] = "application/json"
        self.init(status: status, headers: all, body: json.serialized())
    }

    /// The response; a replay adds `Idempotent-Replayed: true`.
    func response(replayed: Bool) -> Response {
        var fields = HTTPFields()
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) {
            if let name = HTTPField.Name(name) { fields[name] = value }
        }
        if replayed { fields[MasterDealSimulator.HTTP.replayed] = "true" }
        return Response(
            status: HTTPResponse.Status(code: status), headers: fields,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}
