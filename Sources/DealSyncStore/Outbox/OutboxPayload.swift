import DealSyncCore

/// What an outbox row asks a target to do, stored as the row's jsonb payload.
public struct OutboxPayload: Sendable, Codable, Equatable {
    /// The side's record keys and values in its representation.
    public var values: [String: FieldValue]

    public init(values: [String: FieldValue]) {
        self.values = values
    }
}
