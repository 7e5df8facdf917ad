import AsyncHTTPClient
import Crypto
import DealSyncCore
import Foundation
import Logging
import NIOHTTP1

/// amoCRM (API v4): form-encoded v2 webhooks with the secret in the URL, incremental polling, batch writes,
/// OAuth2 with single-use refresh tokens or a long-lived token, and the 7 requests/s limit.
public final class AmoCRMConnector: Connector {
    public let config: ConnectorConfig
    public let mapping: Mapping
    let transport: HTTPTransport
    public let limiter: RateLimiter
    let logger: Logger
    let decoder: AmoWebhookDecoder
    let linkFieldID: Int64?
    let auth: Authorization

    enum Authorization: Sendable {
        case longLived(Secret)
        case oauth(OAuthSession, ConnectorConfig.OAuth)
    }

    public init(
        config: ConnectorConfig, mapping: Mapping, client: HTTPClient, credentials: (any CredentialStore)?,
        limiter: RateLimiter? = nil, logger: Logger, oauthCheckpoint: (@Sendable (String) throws -> Void)? = nil
    ) {
        self.config = config
        self.mapping = mapping
        self.transport = HTTPTransport(client: client, logger: logger)
        let limiter = limiter ?? Self.makeLimiter(config.rateLimit)
        self.limiter = limiter
        self.logger = logger
        self.linkFieldID = MappingFieldKey.amoCustomFieldID(mapping.linkField)
        self.decoder = AmoWebhookDecoder(connector: config.id, linkFieldID: linkFieldID)
        switch config.auth {
        case .oauth(let oauth):
            let transport = self.transport
            let baseURL = config.baseURL
            let timeout = config.delivery.requestTimeout
            let session = OAuthSession(
                connector: config.id, store: credentials ?? MemoryCredentialStore(), initialRefreshToken: oauth.initialRefreshToken,
                refresher: { refresh in
                    // The token endpoint is on the account's host and counts toward its limit like any call.
                    try await limiter.acquire()
                    return try await Self.refresh(refresh, oauth: oauth, baseURL: baseURL, transport: transport, timeout: timeout)
                }, checkpoint: oauthCheckpoint)
            self.auth = .oauth(session, oauth)
        case .bearer(let token):
            self.auth = .longLived(token)
        case .inboundWebhook:
            self.auth = .longLived(Secret(""))
        }
    }

    public func remapped(to mapping: Mapping) -> any Connector { AmoCRMConnector(self, mapping: mapping) }

    private init(_ other: AmoCRMConnector, mapping: Mapping) {
        self.config = other.config
        self.mapping = mapping
        self.transport = other.transport
        self.limiter = other.limiter
        self.logger = other.logger
        self.linkFieldID = MappingFieldKey.amoCustomFieldID(mapping.linkField)
        self.decoder = AmoWebhookDecoder(connector: other.config.id, linkFieldID: linkFieldID)
        self.auth = other.auth
    }

    /// amoCRM counts requests in a sliding one-second window and answers the one past `requests_per_second`
    /// with 429 (repeated, the account is blocked). A token bucket lets `burst + rate` requests into one such
    /// window — 14 with a burst of 7 at 7/s — so the connector paces at one request fewer than the limit per
    /// second with a burst of 1, and also caps actual departures at that many in any 1.2 s: a caller that
    /// overslept on a busy host cannot leave right behind one that did not, and the network has a fifth of
    /// a second to bunch requests up before amoCRM could count one too many. The price is about 5 requests/s
    /// at the default limit of 7.
    static func makeLimiter(_ limit: ConnectorConfig.RateLimit) -> RateLimiter {
        let allowed = limit.requestsPerSecond
        let paced = max(allowed - 1, allowed / 2)
        return RateLimiter(
            requestsPerSecond: paced, burst: 1,
            window: .init(count: max(Int(paced.rounded(.down)), 1), length: .milliseconds(1_200)))
    }

    var webhookSecret: String {
        if case .pathSecret(let secret) = config.webhook { return secret.reveal() }
        return ""
    }

    var staticSecrets: [String] {
        var secrets = [webhookSecret]
        if case .oauth(_, let oauth) = auth { secrets.append(oauth.clientSecret.reveal()) }
        if case .longLived(let token) = auth { secrets.append(token.reveal()) }
        return secrets
    }

    // MARK: Webhooks

    public func accept(_ webhook: WebhookRequest) throws(WebhookRejection) -> InboxItem {
        guard let secret = webhook.pathSecret, ConstantTime.equals(secret, webhookSecret) else {
            throw WebhookRejection(.notFound, "wrong webhook secret")
        }
        let bytes = [UInt8](webhook.body)
        let form: PHPForm.Map
        do {
            form = try PHPForm.parse(bytes: bytes)
        } catch {
            throw WebhookRejection(.malformed, "not a form body: \(error.description)")
        }
        do {
            // Only bodies that decode are stored; the decoding itself happens again when the row is processed.
            _ = try decoder.decode(form)
        } catch {
            throw WebhookRejection(.malformed, error.description)
        }
        let key: String
        if let requestID = webhook.headers["x-amocrm-requestid"], !requestID.isEmpty {
            key = "request:\(requestID)"
        } else {
            // The whole content, not just ids and stamps: two edits of one lead within a second share
            // `last_modified`, and automation hooks carry no time at all. Pairs are sorted so a redelivery with
            // its keys in another order is still the same item.
            // Sorted by their bytes, which for the form's valid UTF-8 is the order of their text.
            var pairs = bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true)
            pairs.sort(by: Self.precedes)
            var hasher = SHA256()
            for (index, pair) in pairs.enumerated() {
                if index > 0 { hasher.update(data: Self.ampersand) }
                pair.withUnsafeBytes { hasher.update(bufferPointer: $0) }
            }
            key = "hook:" + Hex.lower(hasher.finalize().prefix(16))
        }
        return InboxItem(
            connector: config.id, dedupeKey: key, source: .webhook,
            headers: ["user-agent": webhook.headers["user-agent"] ?? ""],
            contentType: "application/x-www-form-urlencoded", body: webhook.body)
    }

    /// Byte order of two raw pairs (`memcmp`, then the shorter first): amoCRM's keys share their first 27 bytes
    /// (`leads%5Bupdate%5D%5B0%5D%5B`), which compared one byte at a time cost more than the body's hash.
    static func precedes(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Bool {
        a.withUnsafeBytes { a in
            b.withUnsafeBytes { b in
                let common = min(a.count, b.count)
                let order = common == 0 ? 0 : memcmp(a.baseAddress!, b.baseAddress!, common)
                return order != 0 ? order < 0 : a.count < b.count
            }
        }
    }

    // MARK: Decoding

    public func decode(_ row: InboxRow) throws -> DecodeOutcome {
        switch row.item.source {
        case .webhook:
            let decoded = try decoder.decode(try PHPForm.parse(String(decoding: row.item.body, as: UTF8.self)))
            if !decoded.fetch.isEmpty && decoded.observations.isEmpty {
                return .fetch(decoded.fetch.map { FetchRequest(connector: config.id, recordID: $0) })
            }
            // Leads named by id only are read in a separate row; the others are decided now.
            return .observations(decoded.observations)
        case .kafka:
            throw DecodeError("amoCRM does not publish to Kafka")
        case .poll, .fetch, .refetch, .replay:
            guard let json = JSONValue.parse(row.item.body), let lead = AmoLeadJSON.parse(json, linkFieldID: linkFieldID) else {
                throw DecodeError("not an amoCRM lead")
            }
            return .observations([observation(lead)])
        }
    }

    func observation(_ lead: AmoLeadJSON.Parsed) -> Observation {
        Observation(
            connector: config.id, side: .crm, recordID: lead.id, action: lead.isDeleted ? .delete : .upsert,
            fields: lead.fields, stamp: lead.updatedAt.map { SourceStamp(seconds: $0) },
            linkedMasterID: lead.linkedMasterID, byIntegration: lead.modifiedByIntegration, isComplete: !lead.isDeleted)
    }

    /// A lead read from the API, keyed by id, `updated_at` and content: re-reading a lead unchanged (the
    /// overlap, a boundary second read again) stores nothing, while a second edit within the same second —
    /// same `updated_at`, other values — is a new item. The content leaves out `_links`: amoCRM writes the
    /// reading request's query string into the lead's own link, so the same state read by another page or
    /// filter would otherwise look new.
    func item(for lead: JSONValue, source: InboxItem.Source, lineage: UUID) -> InboxItem? {
        guard let id = lead["id"]?.int64 else { return nil }
        let updated = lead["updated_at"]?.int64 ?? 0
        var state = lead
        if case .object(var members) = lead {
            members["_links"] = nil
            state = .object(members)
        }
        return InboxItem(
            connector: config.id, dedupeKey: ContentKey.record("lead", id: String(id), stamp: String(updated), body: state),
            source: source, contentType: "application/json", body: lead.data(), lineageID: lineage)
    }

    private static let ampersand = Data("&".utf8)

    /// The first 16 bytes of a SHA-256, in hex.
    static func digest(_ text: String) -> String { digest(Data(text.utf8)) }

    static func digest(_ data: Data) -> String {
        Hex.lower(SHA256.hash(data: data).prefix(16))
    }
}
