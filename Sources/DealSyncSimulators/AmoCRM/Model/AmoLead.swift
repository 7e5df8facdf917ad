/// A lead (deal) as the simulated amoCRM stores it.
public struct AmoLead: Sendable, Equatable {
    public var id: Int
    public var name: String
    /// Whole units, no currency (amoCRM's `price` is an integer).
    public var price: Int
    public var responsibleUserID: Int
    public var groupID: Int
    public var statusID: Int
    public var pipelineID: Int
    public var lossReasonID: Int?
    public var createdBy: Int
    /// 0 when the last write was made by a robot (`updated_by: 0`).
    public var updatedBy: Int
    /// Unix seconds.
    public var createdAt: Int
    public var updatedAt: Int
    public var closedAt: Int?
    public var closestTaskAt: Int?
    public var isDeleted: Bool
    /// In the order the fields were first filled.
    public var customFields: [AmoFieldValue]
    public var tags: [AmoTag]
    public var score: Int?
    public var laborCost: Int?

    /// The stored texts of one custom field (select fields: the choice labels), `nil` when it is empty.
    public func values(ofField fieldID: Int) -> [String]? {
        customFields.first { $0.fieldID == fieldID }.map { $0.values.map(\.value) }
    }
}

/// The values of one custom field on a lead. Every value is kept as text, as amoCRM returns numbers.
public struct AmoFieldValue: Sendable, Equatable {
    public struct Item: Sendable, Equatable {
        /// Text; numbers in POSIX form; dates as unix seconds; checkboxes as `"1"`/`"0"`.
        public var value: String
        public var enumID: Int?

        public init(value: String, enumID: Int? = nil) {
            self.value = value
            self.enumID = enumID
        }
    }

    public var fieldID: Int
    public var values: [Item]

    public init(fieldID: Int, values: [Item]) {
        self.fieldID = fieldID
        self.values = values
    }
}

public struct AmoTag: Sendable, Equatable {
    public var id: Int
    public var name: String
}
