import DealSyncCore
import DealSyncKafka
import Foundation
import Logging

/// The decision feed (`decisions:` in MasterDeal's connector): every change dealsync decides, to MasterDeal and to
/// every CRM, published as a `DealChangeDecided` event (`contracts/events/DealChangeDecided.schema.json`).
///
/// Its rows sit in the outbox beside the writes they tell of, written in the same transaction, and its relay
/// delivers them like any target's: retries, the breaker, dead letters. One link's events go one at a time, in
/// the order decided, keyed by the MasterDeal deal (by the link while the deal is still being created), so one
/// deal's events stay in one partition in order. It reads and receives nothing.
public struct DecisionFeedConnector: Connector {
    public let config: ConnectorConfig
    public let limiter: RateLimiter
    let topic: String
    let master: String
    let clientName: String
    public let producer: KafkaProducer?
    let published: @Sendable (_ acknowledged: Int, _ failed: Int, _ seconds: Double) -> Void

    /// The feed of MasterDeal connector `master` (its `decisions` settings), delivering with `producer`.
    public init(
        master: ConnectorConfig, feed: ConnectorConfig.DecisionFeed, producer: KafkaProducer?, clientName: String = "dealsync",
        published: @escaping @Sendable (Int, Int, Double) -> Void = { _, _, _ in }
    ) {
        var config = master
        config.id = ConnectorConfig.DecisionFeed.target(of: master.id)
        config.events = nil
        config.writes = .kafka(bus: feed.bus, topic: feed.topic)
        config.decisions = nil
        config.poll.enabled = false
        config.reconcile.enabled = false
        self.config = config
        self.limiter = RateLimiter(config.rateLimit)
        self.topic = feed.topic
        self.master = master.id
        self.clientName = clientName
        self.producer = producer
        self.published = published
    }

    public func accept(_ webhook: WebhookRequest) throws(WebhookRejection) -> InboxItem {
        throw WebhookRejection(.notFound, "the decision feed takes no webhooks")
    }

    public func decode(_ row: InboxRow) throws -> DecodeOutcome { .ignore("the decision feed reads nothing") }

    public func fetch(_ recordIDs: [String], lineage: UUID) async throws -> [InboxItem] { [] }

    public func poll(from cursor: String?) async throws -> PollResult { PollResult(items: [], cursor: cursor ?? "", hasMore: false) }

    public func pollCursor(startingAt millis: Int64) -> String { "" }

    public func deliver(_ deliveries: [Delivery]) async -> [DeliveryOutcome] {
        guard let producer else {
            return deliveries.map { _ in .paused(.auth, status: nil, reason: "the decision feed has no Kafka producer") }
        }
        var messages: [KafkaOutgoingMessage] = []
        var sendable: [Bool] = []
        let now = Date()
        for delivery in deliveries {
            guard let decided = delivery.decided else {
                sendable.append(false)
                continue
            }
            sendable.append(true)
            messages.append(
                KafkaOutgoingMessage(
                    topic: topic, key: Data(DealChangeDecided.key(delivery, decided: decided).utf8),
                    value: DealChangeDecided.body(for: delivery, decided: decided, master: master, source: clientName, occurredAt: now),
                    headers: KafkaPublishing.headers(of: delivery, type: DealChangeDecided.type)))
        }
        var results = await KafkaPublishing.send(messages, producer: producer, published: published).makeIterator()
        return sendable.map { ok in
            guard ok else { return .permanent(.validation, status: nil, detail: "not a row of the decision feed") }
            return results.next() ?? .retryable(.serverError, status: nil, detail: "not sent", retryAfter: nil)
        }
    }
}

/// The decision feed's event: one change dealsync decided.
public enum DealChangeDecided {
    public static let type = "DealChangeDecided"

    /// The partitioning key: the MasterDeal deal, or the link while the deal is being created.
    static func key(_ delivery: Delivery, decided: DecidedWrite) -> String {
        delivery.masterDealID ?? "link:\(decided.linkID)"
    }

    /// The event body; the feed row's key (`decided:` and the write's idempotency key) is its `event_id`.
    public static func body(for delivery: Delivery, decided: DecidedWrite, master: String, source: String, occurredAt: Date) -> Data {
        let event: [String: JSONValue] = [
            "event_id": .string(delivery.idempotencyKey),
            "type": .string(type),
            "occurred_at": .string(Timestamp.eventTime(occurredAt)),
            "source": .string(source),
            "operation": .string(delivery.operation == .create ? "create" : "update"),
            "direction": .string(decided.target == master ? "to_masterdeal" : "to_crm"),
            "target": .string(decided.target),
            "connector": .string(decided.connector),
            "link_id": .number(String(decided.linkID)),
            "master_deal_id": delivery.masterDealID.map(JSONValue.string) ?? .null,
            "record_id": decided.recordID.map(JSONValue.string) ?? .null,
            "lineage_id": .string(delivery.lineageID.uuidString.lowercased()),
            "fields": .object(delivery.values.mapValues(plain)),
        ]
        return JSONValue.object(event).data()
    }

    /// A decided value as plain JSON: text, numbers, booleans; decimals as exact strings, money as amount and
    /// currency, times as ISO 8601 UTC.
    static func plain(_ value: FieldValue) -> JSONValue {
        switch value {
        case .null: .null
        case .text(let text): .string(text)
        case .integer(let number): .number(String(number))
        case .decimal(let number): .string(DecimalText.format(number))
        case .bool(let flag): .bool(flag)
        case .money(let money):
            .object(["amount": .string(DecimalText.format(money.amount, minimumFractionDigits: 2)), "currency": .string(money.currency)])
        case .time(let seconds): .string(Timestamp.iso8601(seconds: seconds))
        }
    }
}
