import Crypto
import DealSyncCore
import Foundation

/// MasterDeal's canonical events (`contracts/events/*.schema.json`) as dealsync checks them when they arrive
/// from a Kafka topic, where no signature vouches for the sender and anything may be on the topic.
public enum MasterDealEvents {
    /// The event types MasterDeal publishes.
    public static let types: Set<String> = [
        "DealCreated", "StageChanged", "OwnerChanged", "OfferApproved", "BillingReady", "DealClosedWon", "DealClosedLost",
    ]

    /// What is wrong with `event` against the contract's common envelope (`event_id`, `type`, `occurred_at`,
    /// `source`, `version`, `deal`), or `nil` when it holds; the reason names fields, never their contents.
    public static func problem(in event: JSONValue) -> String? {
        guard event.object != nil else { return "not a JSON object" }
        guard let id = event["event_id"]?.string else { return "event_id: missing or not a string" }
        guard isUUID(id) else { return "event_id: not a lowercase UUID" }
        guard let type = event["type"]?.string else { return "type: missing or not a string" }
        guard types.contains(type) else { return "type: not a MasterDeal event type" }
        guard let occurred = event["occurred_at"]?.string, Timestamp.parseMillis(occurred) != nil else {
            return "occurred_at: missing or not an ISO-8601 timestamp with an offset"
        }
        guard let source = event["source"]?.string, !source.isEmpty else { return "source: missing or empty" }
        guard let version = event["version"]?.int64, version >= 1, case .number = event["version"]! else {
            return "version: missing or not an integer of at least 1"
        }
        guard let deal = event["deal"], deal.object != nil else { return "deal: missing or not an object" }
        guard let parsed = MasterDealRecord.parse(deal) else { return "deal.id: missing" }
        guard parsed.version == version else { return "version: differs from deal.version" }
        guard deal["updated_at"]?.string.flatMap(Timestamp.parseMillis) != nil else { return "deal.updated_at: missing or not a timestamp" }
        return nil
    }

    /// A UUID in its canonical lowercase form (what MasterDeal sends).
    static func isUUID(_ text: String) -> Bool {
        UUID(uuidString: text)?.uuidString.lowercased() == text
    }
}

/// A change dealsync publishes for MasterDeal to apply (`contracts/events/DealChangeRequested.schema.json`):
/// what a CRM changed, decided by the mapping's rules, keyed by the MasterDeal deal id.
public enum DealChangeRequested {
    public static let type = "DealChangeRequested"

    /// The deal id a create proposes: derived from the write's idempotency key, so a create sent again names the
    /// same deal, and MasterDeal's consumer creates it under this id (or recognises it as done).
    public static func proposedDealID(for idempotencyKey: String) -> String {
        let hex = Hex.lower(Array(SHA256.hash(data: Data(idempotencyKey.utf8))).prefix(16))
        var text = ""
        for (index, character) in hex.enumerated() {
            if [8, 12, 16, 20].contains(index) { text += "-" }
            text.append(character)
        }
        return text
    }

    /// The event body: the write's idempotency key is its `event_id`.
    public static func body(for delivery: Delivery, dealID: String, source: String, occurredAt: Date) -> Data {
        var event: [String: JSONValue] = [
            "event_id": .string(delivery.idempotencyKey),
            "type": .string(type),
            "occurred_at": .string(Timestamp.eventTime(occurredAt)),
            "source": .string(source),
            "operation": .string(delivery.operation == .create ? "create" : "update"),
            "master_deal_id": .string(dealID),
            "lineage_id": .string(delivery.lineageID.uuidString.lowercased()),
            "changes": MasterDealRecord.body(for: delivery.values),
        ]
        event["base_version"] = delivery.knownVersion.map { .number(String($0)) } ?? .null
        return JSONValue.object(event).data()
    }
}
