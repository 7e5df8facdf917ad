/// The two ends of one link: the canonical deal in MasterDeal, and its record in one CRM.
public enum Side: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    case master
    case crm

    public var other: Side { self == .master ? .crm : .master }
    public var description: String { rawValue }
}

/// The kinds of system dealsync can talk to.
public enum ConnectorKind: String, Sendable, Hashable, Codable, CaseIterable {
    case amocrm
    case bitrix24
    case masterdeal

    public var side: Side { self == .masterdeal ? .master : .crm }

    /// How reports name the system: `amoCRM`, `Bitrix24`, `MasterDeal`.
    public var displayName: String {
        switch self {
        case .amocrm: "amoCRM"
        case .bitrix24: "Bitrix24"
        case .masterdeal: "MasterDeal"
        }
    }
}
