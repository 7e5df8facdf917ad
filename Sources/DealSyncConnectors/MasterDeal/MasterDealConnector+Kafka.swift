import DealSyncCore
import DealSyncKafka
import Foundation

extension MasterDealConnector {
    /// A message from the events topic as an inbox item: a valid event is keyed like a webhook of it (the deal's
    /// version, so one change that arrives both by webhook and on the bus, or twice on the bus, is stored once);
    /// anything else is refused with the reason, keyed by where it sat on the topic.
    public func accept(_ message: KafkaMessage) -> (item: InboxItem, refusal: String?) {
        let position = "kafka:\(message.topic):\(message.partition):\(message.offset)"
        var headers = ["kafka-topic": message.topic, "kafka-partition": "\(message.partition)", "kafka-offset": "\(message.offset)"]
        for name in ["event_id", "event_type", "lineage_id", "traceparent"] {
            if let value = message.headers[name] { headers[name] = value }
        }
        let refused = { (reason: String) in
            (
                InboxItem(
                    connector: self.config.id, dedupeKey: position, source: .kafka, headers: headers, contentType: "application/json",
                    body: message.value),
                Optional(reason)
            )
        }
        guard message.value.count <= Self.maximumEventSize else { return refused("larger than \(Self.maximumEventSize) bytes") }
        guard let event = JSONValue.parse(message.value) else { return refused("not JSON") }
        if let problem = MasterDealEvents.problem(in: event) { return refused("not a MasterDeal event: \(problem)") }
        let deal = MasterDealRecord.parse(event["deal"]!)!
        headers["x-event-id"] = event["event_id"]?.string ?? ""
        headers["x-event-type"] = event["type"]?.string ?? ""
        return (
            InboxItem(
                connector: config.id, dedupeKey: Self.eventKey(deal, eventID: event["event_id"]!.string!), source: .kafka, headers: headers,
                contentType: "application/json",
                body: message.value), nil
        )
    }

    /// The largest event stored from the topic: the same bound as a webhook body.
    public static let maximumEventSize = 1 << 20

    /// Publishes writes as `DealChangeRequested` events keyed by the MasterDeal deal id: one deal's events land in
    /// one partition, in the order of `deliveries`. Outcomes come back in that order once the brokers
    /// acknowledged each (the idempotent producer: its own retries neither duplicate nor reorder).
    func publish(_ deliveries: [Delivery], topic: String, producer: KafkaProducer) async -> [DeliveryOutcome] {
        var messages: [KafkaOutgoingMessage] = []
        var dealIDs: [String?] = []
        let now = Date()
        for delivery in deliveries {
            let dealID =
                delivery.recordID
                ?? (delivery.operation == .create ? DealChangeRequested.proposedDealID(for: delivery.idempotencyKey) : nil)
            dealIDs.append(dealID)
            guard let dealID else { continue }
            messages.append(
                KafkaOutgoingMessage(
                    topic: topic, key: Data(dealID.utf8),
                    value: DealChangeRequested.body(for: delivery, dealID: dealID, source: clientName, occurredAt: now),
                    headers: KafkaPublishing.headers(of: delivery, type: DealChangeRequested.type)))
        }
        var results = await KafkaPublishing.send(messages, producer: producer, published: published).makeIterator()
        return zip(deliveries, dealIDs).map { delivery, dealID in
            guard dealID != nil else { return .permanent(.validation, status: nil, detail: "no MasterDeal deal id for an update") }
            return results.next() ?? .retryable(.serverError, status: nil, detail: "not sent", retryAfter: nil)
        }
    }
}

/// Sending a round of writes as Kafka messages, shared by MasterDeal's writes and the decision feed.
enum KafkaPublishing {
    /// A write's message headers: its event id and type, its lineage and, when it was traced, its `traceparent`
    /// (the change's trace goes on with the message: a consumer can continue it).
    static func headers(of delivery: Delivery, type: String) -> [(String, String)] {
        var headers = [
            ("event_id", delivery.idempotencyKey), ("event_type", type),
            ("lineage_id", delivery.lineageID.uuidString.lowercased()), ("content-type", "application/json"),
        ]
        if let traceParent = delivery.traceParent { headers.append(("traceparent", traceParent)) }
        return headers
    }

    /// Sends `messages` in order and returns each one's outcome, as the relay understands it, once the brokers
    /// acknowledged it or it failed; tells `published` how many of each and how long the round took.
    static func send(
        _ messages: [KafkaOutgoingMessage], producer: KafkaProducer,
        published: (_ acknowledged: Int, _ failed: Int, _ seconds: Double) -> Void
    ) async -> [DeliveryOutcome] {
        let started = ContinuousClock.now
        let sent = await producer.send(messages)
        let failed = sent.count { if case .failure = $0 { true } else { false } }
        let took = started.duration(to: .now)
        published(sent.count - failed, failed, Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18)
        return zip(messages, sent).map { message, result in
            switch result {
            case .success:
                return .delivered(recordID: String(decoding: message.key ?? Data(), as: UTF8.self), landedAt: nil)
            case .failure(let error):
                if error.isAuthorization { return .paused(.auth, status: nil, reason: "Kafka refused dealsync: \(error.description)") }
                if !error.isRetryable { return .permanent(.validation, status: nil, detail: error.description) }
                return .retryable(.network, status: nil, detail: error.description, retryAfter: nil)
            }
        }
    }
}
