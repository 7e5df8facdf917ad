/// What a connector's decoder made of an inbox row.
public enum DecodeOutcome: Sendable {
    /// Observations to decide, in the order they occurred.
    case observations([Observation])
    /// The row names records that must be read first (id-only events); the fetched records come back as new rows.
    case fetch([FetchRequest])
    /// Nothing to sync (an event kind dealsync does not handle), with the reason.
    case ignore(String)
}

/// A record to read from its system before it can be decided.
public struct FetchRequest: Sendable, Hashable, Codable {
    public var connector: String
    public var recordID: String

    public init(connector: String, recordID: String) {
        self.connector = connector
        self.recordID = recordID
    }
}
