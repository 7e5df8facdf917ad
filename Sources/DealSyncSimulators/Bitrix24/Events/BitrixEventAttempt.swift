import Foundation

/// The one attempt to deliver an event to a handler (Bitrix24 never retries).
public struct BitrixEventAttempt: Sendable, Equatable {
    public var deliveryID: Int
    /// `ONCRMDEALUPDATE`...
    public var event: String
    /// `event_handler_id`.
    public var handlerID: Int
    public var handler: String
    public var dealID: Int
    /// The `application/x-www-form-urlencoded` body.
    public var body: String
    /// The handler's status; `nil` for a timeout or a connection error.
    public var status: Int?
    public var succeeded: Bool
    /// Sent late because the handler had been slow before.
    public var deprioritised: Bool
    public var at: Date
    public var responseMillis: Int
}

/// An event handler bound on the portal (`event.get`).
public struct BitrixEventSubscription: Sendable, Equatable {
    /// `event_handler_id` in every event it receives.
    public var id: Int
    public var event: String
    public var handler: String
    public var kind: Bitrix24Simulator.EventHandler.Kind
    /// The user the handler is authorised as (`auth_type`); 0 is the user whose action fired the event.
    public var authUserID: Int
}

/// An event on its way to one handler.
struct BitrixEventDelivery: Sendable {
    var id: Int
    var subscription: BitrixEventSubscription
    var dealID: Int
    var body: String
}
