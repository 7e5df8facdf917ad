/// What one side says about one record: the input of the decision engine.
///
/// `fields` are in the side's own terms, already normalised by its decoder: MasterDeal keys such as
/// `opportunity_name`, `amount` (a ``Money``), `attributes.<key>`; amoCRM keys such as `price`, `status`
/// (`"<pipeline>:<status>"`), `custom_fields.<id>`; Bitrix24 keys such as `TITLE`, `OPPORTUNITY` (a ``Money``),
/// `STAGE_ID`. A key that is absent says nothing about that field.
public struct Observation: Sendable, Codable, Equatable {
    public enum Action: String, Sendable, Codable {
        /// The record exists with these values (created, updated, or seen by a poll).
        case upsert
        /// The record was deleted on its side.
        case delete
        /// A deleted record came back (amoCRM `restore`).
        case restore
        /// Only the id is known (Bitrix24 events, amoCRM automation hooks): fetch the record first.
        case fetch
    }

    public var connector: String
    public var side: Side
    public var recordID: String
    public var action: Action
    public var fields: [String: FieldValue]
    /// When the side made this state (its `updated_at` / `DATE_MODIFY` / version).
    public var stamp: SourceStamp?
    /// The MasterDeal account a deal belongs to (MasterDeal observations).
    public var account: String?
    /// The `master_deal_id` found in a CRM record's link field, if any.
    public var linkedMasterID: String?
    /// A hint that our own integration made this change (amoCRM `modified_user_id=0`, MasterDeal `source`).
    public var byIntegration: Bool
    /// The record is whole: a mapped field it leaves out is empty, not unknown (amoCRM omits empty custom
    /// fields, MasterDeal omits unset attributes).
    public var isComplete: Bool

    enum CodingKeys: String, CodingKey {
        case connector, side, recordID, action, fields, stamp, account, linkedMasterID, byIntegration, isComplete
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        connector = try c.decode(String.self, forKey: .connector)
        side = try c.decode(Side.self, forKey: .side)
        recordID = try c.decode(String.self, forKey: .recordID)
        action = try c.decode(Action.self, forKey: .action)
        fields = try c.decodeIfPresent([String: FieldValue].self, forKey: .fields) ?? [:]
        stamp = try c.decodeIfPresent(SourceStamp.self, forKey: .stamp)
        account = try c.decodeIfPresent(String.self, forKey: .account)
        linkedMasterID = try c.decodeIfPresent(String.self, forKey: .linkedMasterID)
        byIntegration = try c.decodeIfPresent(Bool.self, forKey: .byIntegration) ?? false
        isComplete = try c.decodeIfPresent(Bool.self, forKey: .isComplete) ?? false
    }

    public init(
        connector: String, side: Side, recordID: String, action: Action = .upsert, fields: [String: FieldValue] = [:],
        stamp: SourceStamp? = nil, account: String? = nil, linkedMasterID: String? = nil, byIntegration: Bool = false,
        isComplete: Bool = false
    ) {
        self.isComplete = isComplete
        self.connector = connector
        self.side = side
        self.recordID = recordID
        self.action = action
        self.fields = fields
        self.stamp = stamp
        self.account = account
        self.linkedMasterID = linkedMasterID
        self.byIntegration = byIntegration
    }
}
