import DealSyncConnectors
import DealSyncCore
import Foundation
import Testing

/// `checkHead`'s media type: parameters and the optional white space around the type do not matter, nor its case;
/// another type, or none, is refused before the body is read.
struct WebhookHeadTests {
    static let now = Date(timeIntervalSince1970: 1_796_000_000)

    static func verdict(contentType: String?) throws -> WebhookRejection.Kind? {
        let config = try MasterDealFixture.config(baseURL: "http://127.0.0.1:9")
        var headers = [
            "X-Signature": MasterDealSignature.sign(body: Data("{}".utf8), secret: "s", timestamp: Int64(now.timeIntervalSince1970))
        ]
        if let contentType { headers["Content-Type"] = contentType }
        let head = WebhookHead(pathSecret: nil, headers: headers, declaredLength: 2, receivedAt: now)
        do {
            try config.checkHead(head, bodyLimit: 1 << 20)
            return nil
        } catch {
            return error.kind
        }
    }

    @Test(arguments: [
        "application/json", "Application/JSON", "application/json; charset=utf-8", " application/json ;charset=utf-8",
        "\tAPPLICATION/json\t", "application/json;",
    ])
    func theMediaTypeIsReadWithoutItsParametersSpaceOrCase(_ contentType: String) throws {
        #expect(try Self.verdict(contentType: contentType) == nil)
    }

    @Test(arguments: ["text/plain", "application/jsonx", "application/ json", "application/x-www-form-urlencoded", "", ";application/json"])
    func anotherMediaTypeIsRefused(_ contentType: String) throws {
        #expect(try Self.verdict(contentType: contentType) == .unsupportedMediaType)
    }

    @Test func noContentTypeIsRefused() throws {
        #expect(try Self.verdict(contentType: nil) == .unsupportedMediaType)
    }
}
