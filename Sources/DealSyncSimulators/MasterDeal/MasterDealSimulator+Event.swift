import Foundation

extension MasterDealSimulator {
    /// A canonical MasterDeal event, as POSTed to every event target.
    ///
    /// Body: `{event_id, type, occurred_at, source, version, deal}`; `StageChanged` adds `previous_stage`
    /// (and `reason` when the writer gave one), `OwnerChanged` adds `previous_owner_id` (null when there was none).
    public struct Event: Sendable, Hashable {
        public enum Kind: String, Sendable, Hashable, CaseIterable, Codable {
            case dealCreated = "DealCreated"
            case stageChanged = "StageChanged"
            case ownerChanged = "OwnerChanged"
            case offerApproved = "OfferApproved"
            case billingReady = "BillingReady"
            case dealClosedWon = "DealClosedWon"
            case dealClosedLost = "DealClosedLost"

            /// The events a user asks for through `POST /_sim/deals/{id}/emit`.
            public static let onDemand: [Kind] = [.offerApproved, .billingReady]
        }

        /// Lowercase UUID.
        public var id: String
        public var type: Kind
        /// Unix milliseconds.
        public var occurredAt: Int64
        /// The writer's client name, or `masterdeal-ui`.
        public var source: String
        /// The deal right after the change.
        public var deal: Deal
        public var previousStage: String?
        public var previousOwnerID: String?
        public var reason: String?

        public init(
            id: String = UUID().uuidString.lowercased(), type: Kind, occurredAt: Int64, source: String,
            deal: Deal, previousStage: String? = nil, previousOwnerID: String? = nil, reason: String? = nil
        ) {
            self.id = id
            self.type = type
            self.occurredAt = occurredAt
            self.source = source
            self.deal = deal
            self.previousStage = previousStage
            self.previousOwnerID = previousOwnerID
            self.reason = reason
        }

        /// The deal version the event describes.
        public var version: Int { deal.version }

        /// The body sent to event targets.
        public var json: JSONValue {
            var members: [String: JSONValue] = [
                "event_id": .string(id),
                "type": .string(type.rawValue),
                "occurred_at": .string(WireTime.format(occurredAt)),
                "source": .string(source),
                "version": .number(Double(version)),
                "deal": deal.json,
            ]
            switch type {
            case .stageChanged:
                members["previous_stage"] = previousStage.map(JSONValue.string) ?? .null
                if let reason { members["reason"] = .string(reason) }
            case .ownerChanged:
                members["previous_owner_id"] = previousOwnerID.map(JSONValue.string) ?? .null
            default:
                break
            }
            return .object(members)
        }
    }

    /// An event in the simulator's history, with what became of it.
    public struct EmittedEvent: Sendable, Hashable {
        public var event: Event
        /// The event target URLs it was queued for.
        public var targets: [String]
        /// True when events were paused, so nobody received it.
        public var dropped: Bool

        var json: JSONValue {
            .object([
                "event": event.json, "targets": .array(targets.map(JSONValue.string)), "dropped": .bool(dropped),
            ])
        }
    }
}
