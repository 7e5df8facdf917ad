import AsyncHTTPClient
import DealSyncCore
import DealSyncKafka
import Foundation
import Logging
import NIOHTTP1

/// The canonical deal service: signed events in, `GET /v1/deals` polling, writes with `Idempotency-Key` and
/// `If-Match` (see `contracts/masterdeal.openapi.yaml`).
public final class MasterDealConnector: Connector {
    public let config: ConnectorConfig
    let transport: HTTPTransport
    public let limiter: RateLimiter
    let logger: Logger
    let token: Secret
    let secrets: [Secret]
    let tolerance: Duration
    /// The client name MasterDeal reports as `source` for our own writes.
    public let clientName: String
    /// Publishes writes when they go to Kafka (`writes: kafka`).
    public let producer: KafkaProducer?
    /// Told of each published batch: messages acknowledged, failed, and seconds from first send to last report.
    let published: @Sendable (_ acknowledged: Int, _ failed: Int, _ seconds: Double) -> Void

    public init(
        config: ConnectorConfig, client: HTTPClient, limiter: RateLimiter? = nil, logger: Logger, clientName: String = "dealsync",
        producer: KafkaProducer? = nil, published: @escaping @Sendable (Int, Int, Double) -> Void = { _, _, _ in }
    ) {
        self.producer = producer
        self.published = published
        self.config = config
        self.transport = HTTPTransport(client: client, logger: logger)
        self.limiter = limiter ?? RateLimiter(config.rateLimit)
        self.logger = logger
        self.clientName = clientName
        if case .bearer(let token) = config.auth { self.token = token } else { self.token = Secret("") }
        if case .hmac(let secrets, let tolerance) = config.webhook {
            self.secrets = secrets
            self.tolerance = tolerance
        } else {
            self.secrets = []
            self.tolerance = .seconds(300)
        }
    }

    var secretTexts: [String] { [token.reveal()] + secrets.map { $0.reveal() } }

    // MARK: Webhooks

    public func accept(_ webhook: WebhookRequest) throws(WebhookRejection) -> InboxItem {
        switch MasterDealSignature.verify(
            header: webhook.headers["x-signature"], body: webhook.body,
            secrets: secrets.map { $0.reveal() }, now: webhook.receivedAt, tolerance: tolerance)
        {
        case .valid: break
        case .missing: throw WebhookRejection(.unauthorized, "missing X-Signature")
        case .malformed: throw WebhookRejection(.unauthorized, "malformed X-Signature")
        case .stale: throw WebhookRejection(.stale, "signature timestamp outside the tolerance")
        case .invalid: throw WebhookRejection(.unauthorized, "signature does not match")
        }
        guard let event = JSONValue.parse(webhook.body), let deal = event["deal"], let parsed = MasterDealRecord.parse(deal),
            event["event_id"]?.string != nil
        else {
            throw WebhookRejection(.malformed, "not a MasterDeal event: expected event_id and a deal")
        }
        return InboxItem(
            connector: config.id, dedupeKey: Self.eventKey(parsed, eventID: event["event_id"]!.string!), source: .webhook,
            headers: ["x-event-id": webhook.headers["x-event-id"] ?? "", "x-event-type": webhook.headers["x-event-type"] ?? ""],
            contentType: "application/json", body: webhook.body)
    }

    /// An event's inbox key, however it arrived (webhook or Kafka): the deal's version, so one change delivered
    /// twice, or both ways, is stored once; the event id for an event without a version.
    static func eventKey(_ deal: MasterDealRecord.Parsed, eventID: String) -> String {
        deal.version.map { "deal:\(deal.id):v\($0)" } ?? "event:\(eventID)"
    }

    // MARK: Decoding

    public func decode(_ row: InboxRow) throws -> DecodeOutcome {
        guard let json = JSONValue.parse(row.item.body) else { throw DecodeError("the body is not JSON") }
        let deal = row.item.source == .webhook || row.item.source == .kafka ? json["deal"] : json
        guard let deal, let parsed = MasterDealRecord.parse(deal) else { throw DecodeError("no deal with an id in the body") }
        let source = json["source"]?.string
        return .observations([
            Observation(
                connector: config.id, side: .master, recordID: parsed.id, action: .upsert, fields: parsed.fields,
                stamp: parsed.stamp, account: parsed.account, byIntegration: source == clientName, isComplete: true)
        ])
    }

    // MARK: Reading

    func get(_ path: String, lineage: UUID?) async throws -> HTTPResponse {
        try await limiter.acquire()
        return try await transport.send(
            .GET, config.baseURL + path, headers: headers(), timeout: config.delivery.requestTimeout,
            lineage: lineage, secrets: secretTexts)
    }

    func headers(_ extra: [(String, String)] = []) -> [(String, String)] {
        [
            ("Authorization", "Bearer \(token.reveal())"), ("Accept", "application/json"),
            ("User-Agent", "dealsync/\(DealSyncVersion.current)"),
        ] + extra
    }

    public func fetch(_ recordIDs: [String], lineage: UUID) async throws -> [InboxItem] {
        var items: [InboxItem] = []
        for id in recordIDs {
            let response = try await get("/v1/deals/\(Self.escape(id))", lineage: lineage)
            switch response.status {
            case 200:
                guard let deal = JSONValue.parse(response.body), let parsed = MasterDealRecord.parse(deal) else {
                    throw DecodeError("GET /v1/deals/{id} returned no deal")
                }
                items.append(
                    InboxItem(
                        connector: config.id, dedupeKey: "deal:\(parsed.id):v\(parsed.version ?? 0)", source: .fetch,
                        contentType: "application/json", body: response.body, lineageID: lineage))
            case 404:
                logger.warning("deal not found", metadata: ["deal": "\(id)", "lineage_id": "\(lineage.uuidString.lowercased())"])
            default:
                throw ConnectorError(status: response.status, "GET /v1/deals/{id}")
            }
        }
        return items
    }

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#"))) ?? text
    }

    static func query(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }
}

/// A payload that cannot be decoded; the message says what is wrong, never what the payload held.
public struct DecodeError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// An unexpected answer from a connector's API.
public struct ConnectorError: Error, CustomStringConvertible, Sendable {
    public var status: Int?
    public var description: String
    public init(status: Int? = nil, _ description: String) {
        self.status = status
        self.description = status.map { "\(description): HTTP \($0)" } ?? description
    }
}
