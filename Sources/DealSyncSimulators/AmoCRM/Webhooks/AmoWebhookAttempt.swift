import Foundation

/// One attempt to deliver a webhook, as recorded by the simulator.
public struct AmoWebhookAttempt: Sendable, Equatable {
    /// The same for every attempt of one delivery.
    public var deliveryID: Int
    public var destination: String
    /// The form body (`application/x-www-form-urlencoded`).
    public var body: String
    /// 1 for the first try, 2... for retries.
    public var attempt: Int
    /// The receiver's status; `nil` for a timeout or a connection error.
    public var status: Int?
    public var succeeded: Bool
    /// The `X-Amocrm-Requestid` header sent (new on every attempt).
    public var requestID: String
    public var at: Date
    /// `true` for the short Digital Pipeline form.
    public var isAutomation: Bool
}

/// A webhook subscription (`/api/v4/webhooks`).
public struct AmoWebhookSubscription: Sendable, Equatable {
    public var id: Int
    public var destination: String
    /// `add_lead`, `update_lead`, `status_lead`, `responsible_lead`, `delete_lead`, `restore_lead`.
    public var settings: [String]
    public var createdAt: Int
    public var updatedAt: Int
    public var createdBy: Int
    public var sort: Int
    /// Set after more than 100 failed deliveries within 2 hours; cleared by `POST /_sim/hooks/enable`.
    public var disabled: Bool

    static let allLeadEvents = ["add_lead", "update_lead", "status_lead", "responsible_lead", "delete_lead", "restore_lead"]
}

/// A webhook waiting to be sent (and retried).
struct AmoWebhookDelivery: Sendable {
    var id: Int
    var destination: String
    var body: String
    var isAutomation: Bool
}
