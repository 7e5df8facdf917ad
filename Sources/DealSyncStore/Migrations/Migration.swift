import DealSyncCore

/// One forward-only schema change, embedded in the binary.
public struct Migration: Sendable {
    public var version: Int
    public var name: String
    /// Statements run in order inside one transaction.
    public var statements: [String]

    public init(version: Int, name: String, statements: [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }

    /// Every migration dealsync knows, in order. Never edit a released one: add the next.
    public static let all: [Migration] = [
        .v1InitialSchema, .v2ClaimSequence, .v3FetchedBy, .v4InboxLanes, .v5KafkaSource, .v6OpenCreates, .v7Onboarding, .v8SentCreates,
        .v9FieldStatePerLink, .v10WriteFacts, .v11QueuesVacuumedOften,
        .v12IndexesForTheirStatements,
    ]

    public static var latestVersion: Int { all.last?.version ?? 0 }
}
