/// A mapping matrix between MasterDeal and one CRM, read from `mappings/<name>.yaml`.
public struct Mapping: Sendable {
    public var name: String
    /// The CRM kind this mapping speaks (`amocrm` or `bitrix24`).
    public var crm: ConnectorKind
    /// amoCRM: the pipeline new leads are created in. Bitrix24: the funnel (`CATEGORY_ID`) new deals go to.
    public var pipeline: Int
    /// The CRM field that holds `master_deal_id` (amoCRM `custom_fields.<id>`, Bitrix24 `ORIGIN_ID` or `UF_CRM_*`).
    public var linkField: String
    /// Bitrix24 `ORIGINATOR_ID` written with every deal dealsync creates.
    public var originator: String
    public var create: CreatePolicy
    public var deletes: DeletePolicy
    public var fields: [FieldMapping]
    public var stages: StageMatrix
    public var owners: OwnerDirectory
    /// Which records take part (`scope:`); everything by default.
    public var scope: SyncScope
    /// How onboarding recognises existing records as existing deals (`matching:`); the link field only by default.
    public var matching: MatchingRules
    public var file: String
    public var locations: [String: SourceLocation]

    public init(
        name: String, crm: ConnectorKind, pipeline: Int, linkField: String, originator: String = "dealsync",
        create: CreatePolicy = CreatePolicy(), deletes: DeletePolicy = .unlink, fields: [FieldMapping],
        stages: StageMatrix, owners: OwnerDirectory, scope: SyncScope = SyncScope(), matching: MatchingRules = MatchingRules(),
        file: String = "<memory>",
        locations: [String: SourceLocation] = [:]
    ) {
        self.name = name
        self.crm = crm
        self.pipeline = pipeline
        self.linkField = linkField
        self.originator = originator
        self.create = create
        self.deletes = deletes
        self.fields = fields
        self.stages = stages
        self.owners = owners
        self.scope = scope
        self.matching = matching
        self.file = file
        self.locations = locations
    }

    public func field(named name: String) -> FieldMapping? { fields.first { $0.name == name } }

    public func location(of key: String) -> SourceLocation {
        locations[key] ?? SourceLocation(file: file, line: 1, column: 1)
    }
}

/// Which side may create the counterpart of a new record.
public struct CreatePolicy: Sendable, Hashable {
    /// A deal created in MasterDeal is created in the CRM.
    public var inCRM: Bool
    /// A record created in the CRM is created in MasterDeal.
    public var inMaster: Bool

    public init(inCRM: Bool = true, inMaster: Bool = true) {
        self.inCRM = inCRM
        self.inMaster = inMaster
    }
}

/// What a delete in the CRM does. Canonical deals are never deleted silently; every delete is logged.
public enum DeletePolicy: Sendable, Hashable {
    /// Log it and keep the link; a restore in the CRM resumes sync.
    case ignore
    /// Log it and end the link; the MasterDeal deal stays as it is.
    case unlink
    /// Log it, end the link and move the MasterDeal deal to `masterStage` (for example `lost`).
    case propagate(masterStage: String)
}

/// Which way a field flows.
public enum Direction: String, Sendable, Hashable, CaseIterable, Codable {
    case both
    case masterToCRM = "master_to_crm"
    case crmToMaster = "crm_to_master"

    /// Whether a change made on `side` may become the decided value.
    public func accepts(changeFrom side: Side) -> Bool {
        switch self {
        case .both: true
        case .masterToCRM: side == .master
        case .crmToMaster: side == .crm
        }
    }

    /// The side that owns a one-way field.
    public var owner: Side? {
        switch self {
        case .both: nil
        case .masterToCRM: .master
        case .crmToMaster: .crm
        }
    }
}

/// How concurrent changes to one field are resolved.
public enum ConflictRule: Sendable, Hashable, CustomStringConvertible, Codable {
    /// The later source timestamp wins; an exact tie goes to MasterDeal.
    case lww
    /// The named side's value wins.
    case priority(Side)

    public var description: String {
        switch self {
        case .lww: "lww"
        case .priority(let side): "priority:\(side)"
        }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        switch text {
        case "lww": self = .lww
        case "priority:master": self = .priority(.master)
        case "priority:crm": self = .priority(.crm)
        default: throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: text))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// What the reconciler does with drift on a field.
public enum RepairPolicy: String, Sendable, Hashable, CaseIterable, Codable {
    /// Re-decide by the field's rule and write; logged.
    case auto
    /// Report only; a person repairs it from the CLI.
    case alert
}

/// The closed set of typed transforms between MasterDeal values and CRM values.
public enum Transform: Sendable, Hashable {
    /// Text as it is.
    case text
    /// Exact decimal numbers (CRMs send them as strings).
    case number
    /// MasterDeal `amount` + `currency` ↔ amoCRM integer `price` (with the account's fixed currency) or
    /// Bitrix24 `OPPORTUNITY` decimal string + `CURRENCY_ID`.
    case money(fixedCurrency: String?)
    /// ISO-8601 with offset (MasterDeal, Bitrix24) ↔ unix seconds (amoCRM); one-second resolution.
    case timestamp
    /// A value map: canonical code → CRM value (amoCRM enum id, Bitrix24 list item id).
    case enumeration([String: String])
    /// The stage matrix.
    case stage
    /// The owner directory.
    case owner
    /// Yes/no: a JSON boolean (MasterDeal) ↔ an amoCRM checkbox ↔ a Bitrix24 boolean user field (`"1"`/`"0"`).
    /// An unset value is `false` on every side, as the CRMs show an unticked box.
    case boolean

    public var name: String {
        switch self {
        case .text: "text"
        case .number: "number"
        case .money: "money"
        case .timestamp: "timestamp"
        case .enumeration: "enum"
        case .stage: "stage"
        case .owner: "owner"
        case .boolean: "boolean"
        }
    }
}

/// One field pair of a mapping.
public struct FieldMapping: Sendable, Hashable {
    /// The field's name in the mapping, used in state, logs and metrics.
    public var name: String
    /// MasterDeal field: `opportunity_name`, `stage`, `amount`, `owner_id`, `sla_due_at` or `attributes.<key>`.
    public var master: String
    /// CRM field: amoCRM `name`, `price`, `status`, `responsible_user_id`, `custom_fields.<id>`;
    /// Bitrix24 `TITLE`, `OPPORTUNITY`, `STAGE_ID`, `ASSIGNED_BY_ID`, `UF_CRM_*`, ...
    public var crm: String
    public var transform: Transform
    public var direction: Direction
    public var conflict: ConflictRule
    public var repair: RepairPolicy
    /// Personal data: values are masked in the divergence log.
    public var pii: Bool
    public var location: SourceLocation

    public init(
        name: String, master: String, crm: String, transform: Transform = .text, direction: Direction = .both,
        conflict: ConflictRule = .lww, repair: RepairPolicy = .alert, pii: Bool = false,
        location: SourceLocation = SourceLocation(file: "<memory>", line: 1, column: 1)
    ) {
        self.name = name
        self.master = master
        self.crm = crm
        self.transform = transform
        self.direction = direction
        self.conflict = conflict
        self.repair = repair
        self.pii = pii
        self.location = location
    }
}
