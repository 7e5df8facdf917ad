/// The links a batch of observations touches, with their field state, held in memory while the batch is
/// decided: the store loads it in a few queries, the planner changes it, and the store writes back what changed.
///
/// Pure and a value type: a copy is a savepoint (an inbox row whose observations must wait is decided on a copy
/// that is then dropped).
public struct LinkBook: Sendable, Equatable {
    /// One link: who is linked to whom, and the state of every field.
    public struct Entry: Sendable, Equatable {
        public var id: Int64
        public var connector: String
        public var masterDealID: String?
        public var recordID: String?
        public var isActive: Bool
        /// The MasterDeal version last seen for the deal (sent in `If-Match`).
        public var masterVersion: Int64?
        public var fields: [String: FieldState]

        public init(
            id: Int64, connector: String, masterDealID: String?, recordID: String?, isActive: Bool = true,
            masterVersion: Int64? = nil, fields: [String: FieldState] = [:]
        ) {
            self.id = id
            self.connector = connector
            self.masterDealID = masterDealID
            self.recordID = recordID
            self.isActive = isActive
            self.masterVersion = masterVersion
            self.fields = fields
        }

        public var snapshot: LinkSnapshot {
            LinkSnapshot(linkID: id, masterDealID: masterDealID, recordID: recordID, isActive: isActive, fields: fields)
        }
    }

    /// A create sent to MasterDeal for a CRM record whose answer is not recorded yet: the deal may exist already,
    /// and a poll may find it before the link learns its id.
    public struct MasterCreateInFlight: Sendable, Equatable {
        public var linkID: Int64
        public var connector: String
        public var recordID: String?
        /// The `account_id` and `opportunity_name` the create sent.
        public var account: String?
        public var name: FieldValue?

        public init(linkID: Int64, connector: String, recordID: String?, account: String?, name: FieldValue?) {
            self.linkID = linkID
            self.connector = connector
            self.recordID = recordID
            self.account = account
            self.name = name
        }

        /// Whether `deal` (a MasterDeal observation) may be what this create made: same account and, where the
        /// create sent a name, the same name.
        public func mayHaveMade(_ deal: Observation) -> Bool {
            guard deal.side == .master, account == deal.account else { return false }
            guard let name else { return true }
            return deal.fields["opportunity_name"] == name
        }
    }

    /// A record onboarding left unlinked: it is never created on the other side of its connector (linking it
    /// through its link field still works).
    public struct Hold: Sendable, Equatable {
        public enum Kind: String, Sendable, Codable {
            /// It matched more than one record on the other side: a person must link it.
            case ambiguous
            /// It matched nothing and the mapping says `no_match: leave`.
            case unmatched
        }

        public var connector: String
        public var side: Side
        public var recordID: String
        public var kind: Kind
        public var reason: String

        public init(connector: String, side: Side, recordID: String, kind: Kind, reason: String) {
            self.connector = connector
            self.side = side
            self.recordID = recordID
            self.kind = kind
            self.reason = reason
        }
    }

    public private(set) var entries: [Int64: Entry] = [:]
    /// Records of the batch that onboarding left unlinked, by connector, side and id.
    public let holds: [Hold]
    /// Creates sent to MasterDeal and not yet confirmed (loaded when the batch has MasterDeal observations).
    public let masterCreatesInFlight: [MasterCreateInFlight]
    /// Links created while deciding this batch (the store inserts them).
    public private(set) var created: Set<Int64> = []
    private var byRecord: [Key: Int64] = [:]
    private var byMaster: [Key: Int64] = [:]
    /// Ids reserved for links this batch may create, taken in order.
    private var freeIDs: [Int64]

    struct Key: Hashable {
        var connector: String
        var id: String
    }

    /// A book of the links the store found, with `reservedIDs` for the links the batch may create.
    public init(
        links: [Entry] = [], reservedIDs: [Int64] = [], masterCreatesInFlight: [MasterCreateInFlight] = [], holds: [Hold] = []
    ) {
        freeIDs = reservedIDs.reversed()
        self.holds = holds
        self.masterCreatesInFlight = masterCreatesInFlight
        for link in links { index(link) }
    }

    private mutating func index(_ link: Entry) {
        entries[link.id] = link
        if let record = link.recordID { byRecord[Key(connector: link.connector, id: record)] = link.id }
        if let master = link.masterDealID { byMaster[Key(connector: link.connector, id: master)] = link.id }
    }

    public func link(connector: String, recordID: String) -> Entry? {
        byRecord[Key(connector: connector, id: recordID)].flatMap { entries[$0] }
    }

    public func link(connector: String, masterDealID: String) -> Entry? {
        byMaster[Key(connector: connector, id: masterDealID)].flatMap { entries[$0] }
    }

    public subscript(id: Int64) -> Entry? { entries[id] }

    /// Why onboarding left `recordID` (of `side`) unlinked for `connector`, if it did.
    public func hold(connector: String, side: Side, recordID: String) -> Hold? {
        holds.first { $0.connector == connector && $0.side == side && $0.recordID == recordID }
    }

    /// The unconfirmed create to MasterDeal that may have made `deal`, if any.
    public func masterCreateInFlight(thatMayHaveMade deal: Observation) -> MasterCreateInFlight? {
        masterCreatesInFlight.first { $0.mayHaveMade(deal) }
    }

    /// Replaces a link's entry (its record id or deal id may have been learned).
    public mutating func update(_ link: Entry) {
        index(link)
    }

    /// Creates a link with the next reserved id; `nil` when none is left (the store reserves one per
    /// observation that could create a link, so this does not happen).
    public mutating func create(connector: String, masterDealID: String?, recordID: String?) -> Entry? {
        guard let id = freeIDs.popLast() else { return nil }
        let link = Entry(id: id, connector: connector, masterDealID: masterDealID, recordID: recordID)
        created.insert(id)
        index(link)
        return link
    }

    /// How many reserved ids are still free.
    public var reservedLeft: Int { freeIDs.count }
}
