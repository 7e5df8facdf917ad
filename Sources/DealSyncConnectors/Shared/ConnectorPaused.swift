import DealSyncCore

/// The CRM refuses the connector for a cause only a person can fix (an ended subscription, an application
/// installed again, a blocked account): thrown by reads, answered as ``DeliveryOutcome/paused(_:status:reason:)``
/// by writes, so the gateway pauses the connector with `reason` instead of retrying it.
///
/// `reason` says what to do and never holds a secret.
public struct ConnectorPaused: Error, Sendable, Equatable, CustomStringConvertible {
    public var errorClass: ErrorClass
    /// The HTTP status of the refusal; nil when the connector held the call back without sending it.
    public var status: Int?
    public var reason: String

    public init(_ errorClass: ErrorClass, status: Int?, reason: String) {
        self.errorClass = errorClass
        self.status = status
        self.reason = reason
    }

    public var description: String { "connector paused: \(reason)" }

    /// The delivery outcome of a write refused this way.
    public var outcome: DeliveryOutcome { .paused(errorClass, status: status, reason: reason) }
}
