import DealSyncCore
import Foundation

/// A webhook as far as its request line and headers go: everything that can be checked before the body is read.
public struct WebhookHead: Sendable {
    /// The path segment after the connector id, when there is one.
    public var pathSecret: String?
    /// Header names in lower case.
    public var headers: [String: String]
    /// `Content-Length` as declared; `nil` for a chunked body.
    public var declaredLength: Int?
    public var receivedAt: Date

    public init(pathSecret: String?, headers: [String: String], declaredLength: Int?, receivedAt: Date = Date()) {
        self.pathSecret = pathSecret
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { $1 })
        self.declaredLength = declaredLength
        self.receivedAt = receivedAt
    }
}

extension ConnectorConfig {
    /// The media type this connector's webhooks are posted as.
    public var webhookContentType: String {
        switch kind {
        case .amocrm, .bitrix24: "application/x-www-form-urlencoded"
        case .masterdeal: "application/json"
        }
    }

    /// The largest body this connector's webhooks are read up to, at most `ceiling`. Bitrix24 events carry ids
    /// only (a few hundred bytes) and cannot be authenticated before their body is read, so a caller without the
    /// token can make the gateway hold no more than 64 KiB per connection.
    public func webhookBodyLimit(ceiling: Int) -> Int {
        switch kind {
        case .bitrix24: min(ceiling, 64 << 10)
        case .amocrm, .masterdeal: ceiling
        }
    }

    /// Refuses a webhook on what its head shows, before a byte of its body is read: the amoCRM URL secret
    /// (constant time), the MasterDeal signature header's form and age, the content type, and a declared
    /// length over `bodyLimit`. Authentication comes first, so an unauthenticated caller learns nothing else.
    public func checkHead(_ head: WebhookHead, bodyLimit: Int) throws(WebhookRejection) {
        switch webhook {
        case .pathSecret(let secret):
            guard let given = head.pathSecret, ConstantTime.equals(given, secret.reveal()) else {
                throw WebhookRejection(.notFound, "wrong webhook secret")
            }
        case .applicationToken:
            // The token is in the body: it is found by a bounded scan before the form is parsed.
            guard head.pathSecret == nil else { throw WebhookRejection(.notFound, "no such webhook address") }
        case .hmac(_, let tolerance):
            guard head.pathSecret == nil else { throw WebhookRejection(.notFound, "no such webhook address") }
            switch MasterDealSignature.checkHeader(head.headers["x-signature"], now: head.receivedAt, tolerance: tolerance) {
            case .valid, .invalid: break
            case .missing: throw WebhookRejection(.unauthorized, "missing X-Signature")
            case .malformed: throw WebhookRejection(.unauthorized, "malformed X-Signature")
            case .stale: throw WebhookRejection(.stale, "signature timestamp outside the tolerance")
            }
        }
        let mediaType = head.headers["content-type"].map(Self.mediaType) ?? ""
        guard mediaType == webhookContentType else {
            let given = mediaType.isEmpty ? "none" : (mediaType.count > 60 ? String(mediaType.prefix(60)) + "…" : mediaType)
            throw WebhookRejection(.unsupportedMediaType, "expected Content-Type \(webhookContentType), got \(given)")
        }
        if let length = head.declaredLength, length > bodyLimit {
            throw WebhookRejection(.tooLarge, "body larger than \(bodyLimit) bytes")
        }
    }

    /// `Application/JSON; charset=utf-8` → `application/json`.
    /// The parameters cut at the first `;` and the optional white space around the type (spaces and tabs, HTTP's
    /// `OWS`) trimmed, byte by byte: Foundation's trimming was 1.5% of `serve`'s CPU at intake.
    static func mediaType(_ header: String) -> String {
        let bytes = header.utf8
        var type = bytes[..<(bytes.firstIndex(of: UInt8(ascii: ";")) ?? bytes.endIndex)]
        let isSpace = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        while let first = type.first, isSpace(first) { type = type.dropFirst() }
        while let last = type.last, isSpace(last) { type = type.dropLast() }
        return String(decoding: type, as: UTF8.self).lowercased()
    }
}
