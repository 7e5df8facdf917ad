/// One link as the decision engine sees it: who is linked to whom, and the state of every field.
public struct LinkSnapshot: Sendable, Equatable {
    public var linkID: Int64
    public var masterDealID: String?
    /// The CRM record id; `nil` while the CRM record is being created.
    public var recordID: String?
    public var isActive: Bool
    public var fields: [String: FieldState]

    public init(linkID: Int64, masterDealID: String?, recordID: String?, isActive: Bool = true, fields: [String: FieldState] = [:]) {
        self.linkID = linkID
        self.masterDealID = masterDealID
        self.recordID = recordID
        self.isActive = isActive
        self.fields = fields
    }

    /// The outbox ordering key for writes to a side: all writes to one record keep their order.
    public func recordKey(for side: Side) -> String {
        switch side {
        case .master: masterDealID ?? "link:\(linkID)"
        case .crm: "link:\(linkID)"
        }
    }
}

/// What processing one input decided for one link, to be committed in one transaction.
public struct RecordDecision: Sendable, Equatable {
    public enum Operation: String, Sendable, Codable { case create, update }
    public enum LinkChange: String, Sendable, Equatable { case unlink, relink }

    /// One outbox row.
    public struct Write: Sendable, Equatable {
        public var side: Side
        public var operation: Operation
        /// The payload: the side's record keys and values in its representation.
        public var values: [String: FieldValue]
        /// Mapping field names written, with the value each one sent (for pending-write bookkeeping).
        public var fields: [String: FieldValue]
        public var recordKey: String
        public var idempotencyKey: String

        public init(
            side: Side, operation: Operation, values: [String: FieldValue], fields: [String: FieldValue], recordKey: String,
            idempotencyKey: String
        ) {
            self.side = side
            self.operation = operation
            self.values = values
            self.fields = fields
            self.recordKey = recordKey
            self.idempotencyKey = idempotencyKey
        }
    }

    public var fields: [String: FieldState]
    public var writes: [Write] = []
    public var entries: [DivergenceEntry] = []
    public var linkChange: LinkChange?
    /// Per field, why the engine did what it did (for `dealsync explain`).
    public var explanations: [String: String] = [:]
    /// The MasterDeal deal must be read before this link can be decided (a CRM record adopted by its link field).
    public var needsMasterFetch = false

    public init(fields: [String: FieldState]) {
        self.fields = fields
    }
}
