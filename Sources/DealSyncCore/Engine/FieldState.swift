/// What dealsync knows about one field of one linked record: the decided value and each side's state.
///
/// Stored per link and field, updated in the same transaction as the outbox rows it causes.
public struct FieldState: Sendable, Codable, Equatable {
    /// The decided value D (canonical), `nil` until one side has been seen.
    public var decided: FieldValue?
    /// The side whose change made D.
    public var decidedBy: Side?
    /// That change's source stamp, in the clock of ``decidedBy``.
    public var decidedAt: SourceStamp?
    public var master: SideState
    public var crm: SideState

    public init(decided: FieldValue? = nil, decidedBy: Side? = nil, decidedAt: SourceStamp? = nil,
                master: SideState = SideState(), crm: SideState = SideState()) {
        self.decided = decided
        self.decidedBy = decidedBy
        self.decidedAt = decidedAt
        self.master = master
        self.crm = crm
    }

    public subscript(side: Side) -> SideState {
        get { side == .master ? master : crm }
        set { if side == .master { master = newValue } else { crm = newValue } }
    }

    enum CodingKeys: String, CodingKey {
        case decided, decidedBy = "decided_by", decidedAt = "decided_at", master, crm
    }
}

/// One side's part of a ``FieldState``.
public struct SideState: Sendable, Codable, Equatable {
    /// The newest known value (side representation) and its stamp.
    public var known: FieldValue?
    public var knownAt: SourceStamp?
    /// Whether that newest known state is our own write coming back.
    public var knownIsOurs: Bool = false
    /// The newest real (not ours) edit seen on this side, and its value.
    public var lastEditAt: SourceStamp?
    public var lastEdit: FieldValue?
    /// Our writes to this side that have not come back yet, oldest first.
    public var pending: [PendingWrite] = []
    /// When our write of the current decided value landed here (this side's clock).
    public var heldSince: SourceStamp?
    /// Values we wrote here recently, to tell our overwritten writes from real edits.
    public var written: [FieldValue] = []

    public init(known: FieldValue? = nil, knownAt: SourceStamp? = nil) {
        self.known = known
        self.knownAt = knownAt
    }

    /// What the side will hold once our pending writes land.
    public var projected: FieldValue? { pending.last?.value ?? known }

    static let writtenMemory = 32

    mutating func remember(written value: FieldValue) {
        written.removeAll { $0 == value }
        written.append(value)
        if written.count > Self.writtenMemory { written.removeFirst(written.count - Self.writtenMemory) }
    }

    enum CodingKeys: String, CodingKey {
        case known, knownAt = "known_at", knownIsOurs = "known_is_ours", lastEditAt = "last_edit_at", lastEdit = "last_edit", pending,
            heldSince = "held_since", written
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        known = try c.decodeIfPresent(FieldValue.self, forKey: .known)
        knownAt = try c.decodeIfPresent(SourceStamp.self, forKey: .knownAt)
        knownIsOurs = try c.decodeIfPresent(Bool.self, forKey: .knownIsOurs) ?? false
        lastEditAt = try c.decodeIfPresent(SourceStamp.self, forKey: .lastEditAt)
        lastEdit = try c.decodeIfPresent(FieldValue.self, forKey: .lastEdit)
        pending = try c.decodeIfPresent([PendingWrite].self, forKey: .pending) ?? []
        heldSince = try c.decodeIfPresent(SourceStamp.self, forKey: .heldSince)
        written = try c.decodeIfPresent([FieldValue].self, forKey: .written) ?? []
    }
}

/// A write of ours on its way to a side.
public struct PendingWrite: Sendable, Codable, Equatable {
    public var value: FieldValue
    /// The outbox row's idempotency key.
    public var key: String
    /// When the target confirmed it landed, in the target's clock (when the target said).
    public var landedAt: SourceStamp?

    public init(value: FieldValue, key: String, landedAt: SourceStamp? = nil) {
        self.value = value
        self.key = key
        self.landedAt = landedAt
    }

    enum CodingKeys: String, CodingKey { case value, key, landedAt = "landed_at" }
}
