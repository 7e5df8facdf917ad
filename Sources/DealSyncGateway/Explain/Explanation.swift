import DealSyncCore

/// What `dealsync explain` understood from a payload: the observations, how each field maps, and — with a
/// database — what the engine would decide against the stored state.
public struct Explanation: Sendable, Encodable {
    public var connector: String
    /// How the payload was read: as a webhook body, or as a record the connector fetched or polled.
    public var readAs: String
    public var observations: [ObservationView]
    /// Records named only by id: the gateway fetches them before deciding.
    public var fetch: [String]
    public var ignored: String?

    enum CodingKeys: String, CodingKey {
        case connector, readAs = "read_as", observations, fetch, ignored
    }

    public struct ObservationView: Sendable, Encodable {
        public var connector: String
        public var recordID: String
        public var side: String
        public var action: String
        public var stamp: String?
        public var linkedMasterID: String?
        public var byIntegration: Bool
        /// The record's values in the source's own terms.
        public var fields: [String: String]
        public var mapped: [FieldView]
        public var decision: DecisionView?

        enum CodingKeys: String, CodingKey {
            case connector, recordID = "record_id", side, action, stamp, linkedMasterID = "linked_master_id",
                byIntegration = "by_integration", fields, mapped, decision
        }
    }

    public struct FieldView: Sendable, Encodable {
        public var field: String
        public var sourceKey: String
        public var sourceValue: String
        /// The value in MasterDeal's terms (canonical).
        public var canonical: String?
        /// The value the other side would be written (for a MasterDeal record: the CRM value).
        public var otherSide: String?
        public var problem: String?
        public var direction: String
        public var rule: String

        enum CodingKeys: String, CodingKey {
            case field, sourceKey = "source_key", sourceValue = "source_value", canonical, otherSide = "other_side", problem,
                direction, rule
        }
    }

    public struct DecisionView: Sendable, Encodable {
        /// `linked`, `new link (create)`, `not linked`.
        public var link: String
        public var perField: [String: String]
        public var writes: [WriteView]
        public var divergence: [String]

        enum CodingKeys: String, CodingKey {
            case link, perField = "per_field", writes, divergence
        }
    }

    public struct WriteView: Sendable, Encodable {
        public var target: String
        public var operation: String
        public var values: [String: String]
    }
}
