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

    public init(
        decided: FieldValue? = nil, decidedBy: Side? = nil, decidedAt: SourceStamp? = nil,
        master: SideState = SideState(), crm: SideState = SideState()
    ) {
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
    /// When that write of ours landed (this side's clock). A record's stamp moves on when any of its fields
    /// changes, so the known state can be newer than the landing; only an edit older than the landing can have
    /// been overwritten by it. `nil` in states stored before it was kept: the known stamp stands in.
    public var oursSince: SourceStamp?
    /// The stamp of the side's own state known last before our writes took over (the newest known state that
    /// was not ours): an edit older than it was followed by the side's own later state, not overwritten by us.
    public var beforeOursAt: SourceStamp?
    /// Spans from the landing of a write of ours to the newest report of the side still holding its value (a
    /// record's stamp moves when other fields change): an edit inside one was undone by the side itself, not
    /// overwritten by us. Newest last, a few at most.
    public var oursReported: [StampSpan] = []
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

    /// Records that the side holds `value`, put there by our write that landed at `landedAt`, as of `knownAt`.
    mutating func holdOurs(_ value: FieldValue, knownAt stamp: SourceStamp, landedAt: SourceStamp) {
        if let previous = knownAt, !knownIsOurs, previous < landedAt { beforeOursAt = previous }
        known = value
        knownAt = stamp
        knownIsOurs = true
        oursSince = landedAt
        reportOurs(at: stamp)
    }

    /// The side reported, at `stamp`, that it still holds the value of ours it holds now.
    mutating func reportOurs(at stamp: SourceStamp) {
        guard knownIsOurs, let since = oursSince, since < stamp else { return }
        if let last = oursReported.last, last.from == since {
            oursReported[oursReported.count - 1].to = max(last.to, stamp)
        } else {
            oursReported.append(StampSpan(from: since, to: stamp))
            if oursReported.count > Self.reportMemory { oursReported.removeFirst(oursReported.count - Self.reportMemory) }
        }
    }

    /// Whether an edit made at `stamp` was undone by the side itself: a value of ours that had landed before it
    /// was reported again after it.
    func undoneBySide(_ stamp: SourceStamp) -> Bool {
        oursReported.contains { $0.from < stamp && stamp < $0.to }
    }

    /// Forgets what is known about our writes: the side made a real edit.
    mutating func edited(_ value: FieldValue, at stamp: SourceStamp) {
        known = value
        knownAt = stamp
        knownIsOurs = false
        oursSince = nil
        beforeOursAt = nil
        oursReported = []
        lastEditAt = stamp
        lastEdit = value
    }

    static let reportMemory = 8

    static let writtenMemory = 32

    mutating func remember(written value: FieldValue) {
        written.removeAll { $0 == value }
        written.append(value)
        if written.count > Self.writtenMemory { written.removeFirst(written.count - Self.writtenMemory) }
    }

    enum CodingKeys: String, CodingKey {
        case known, knownAt = "known_at", knownIsOurs = "known_is_ours", oursSince = "ours_since", beforeOursAt = "before_ours_at",
            oursReported = "ours_reported", lastEditAt = "last_edit_at", lastEdit = "last_edit", pending,
            heldSince = "held_since", written
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        known = try c.decodeIfPresent(FieldValue.self, forKey: .known)
        knownAt = try c.decodeIfPresent(SourceStamp.self, forKey: .knownAt)
        knownIsOurs = try c.decodeIfPresent(Bool.self, forKey: .knownIsOurs) ?? false
        oursSince = try c.decodeIfPresent(SourceStamp.self, forKey: .oursSince)
        beforeOursAt = try c.decodeIfPresent(SourceStamp.self, forKey: .beforeOursAt)
        oursReported = try c.decodeIfPresent([StampSpan].self, forKey: .oursReported) ?? []
        lastEditAt = try c.decodeIfPresent(SourceStamp.self, forKey: .lastEditAt)
        lastEdit = try c.decodeIfPresent(FieldValue.self, forKey: .lastEdit)
        pending = try c.decodeIfPresent([PendingWrite].self, forKey: .pending) ?? []
        heldSince = try c.decodeIfPresent(SourceStamp.self, forKey: .heldSince)
        written = try c.decodeIfPresent([FieldValue].self, forKey: .written) ?? []
    }

    /// Members at their defaults (not ours, no reports, nothing pending or written) are left out: they are most of
    /// a quiet field's state, which a batch writes and reads back for every link it touches.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(known, forKey: .known)
        try c.encodeIfPresent(knownAt, forKey: .knownAt)
        if knownIsOurs { try c.encode(knownIsOurs, forKey: .knownIsOurs) }
        try c.encodeIfPresent(oursSince, forKey: .oursSince)
        try c.encodeIfPresent(beforeOursAt, forKey: .beforeOursAt)
        if !oursReported.isEmpty { try c.encode(oursReported, forKey: .oursReported) }
        try c.encodeIfPresent(lastEditAt, forKey: .lastEditAt)
        try c.encodeIfPresent(lastEdit, forKey: .lastEdit)
        if !pending.isEmpty { try c.encode(pending, forKey: .pending) }
        try c.encodeIfPresent(heldSince, forKey: .heldSince)
        if !written.isEmpty { try c.encode(written, forKey: .written) }
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

/// A span of one side's clock.
public struct StampSpan: Sendable, Codable, Equatable {
    public var from: SourceStamp
    public var to: SourceStamp
}
