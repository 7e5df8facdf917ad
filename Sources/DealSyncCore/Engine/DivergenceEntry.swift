/// One entry of the divergence audit log: a conflict decision, a one-way violation, a delete, a value with no
/// counterpart, or drift found by the reconciler.
public struct DivergenceEntry: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case conflict
        case oneWayViolation = "one_way_violation"
        case drift
        case delete
        case unmappedValue = "unmapped_value"
    }

    public var kind: Kind
    public var field: String?
    /// MasterDeal's value (canonical) and the CRM's value (its own representation); masked for `pii` fields.
    public var masterValue: FieldValue?
    public var crmValue: FieldValue?
    public var masterAt: SourceStamp?
    public var crmAt: SourceStamp?
    /// The field's rule (`lww`, `priority:master`, `direction:master_to_crm`, `on_delete:unlink`).
    public var rule: String?
    public var winner: Side?
    /// What dealsync did, in words.
    public var outcome: String
    public var detail: [String: String]

    public init(
        kind: Kind, field: String? = nil, masterValue: FieldValue? = nil, crmValue: FieldValue? = nil,
        masterAt: SourceStamp? = nil, crmAt: SourceStamp? = nil, rule: String? = nil, winner: Side? = nil,
        outcome: String, detail: [String: String] = [:]
    ) {
        self.kind = kind
        self.field = field
        self.masterValue = masterValue
        self.crmValue = crmValue
        self.masterAt = masterAt
        self.crmAt = crmAt
        self.rule = rule
        self.winner = winner
        self.outcome = outcome
        self.detail = detail
    }

    /// The same entry with both values replaced by a mask (fields marked `pii: true`).
    public func masked() -> DivergenceEntry {
        var copy = self
        copy.masterValue = masterValue.map(Self.mask)
        copy.crmValue = crmValue.map(Self.mask)
        return copy
    }

    /// How a personal value is shown wherever dealsync shows one (the divergence log, `dealsync history`).
    public static func mask(_ value: FieldValue) -> FieldValue {
        value == .null ? .null : .text("***")
    }
}
