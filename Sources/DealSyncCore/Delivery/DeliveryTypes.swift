import Foundation

/// One write the relay hands a connector: one outbox row, or several consecutive rows for one record
/// coalesced into one request.
public struct Delivery: Sendable, Equatable {
    public var outboxIDs: [Int64]
    public var idempotencyKey: String
    public var operation: RecordDecision.Operation
    /// The target record (a CRM record id, a MasterDeal deal id); `nil` for a create.
    public var recordID: String?
    /// The MasterDeal deal this write belongs to (a CRM create looks it up before creating again).
    public var masterDealID: String?
    /// The side's record keys and values in its representation.
    public var values: [String: FieldValue]
    public var lineageID: UUID
    /// The deal version dealsync last saw (MasterDeal `If-Match`).
    public var knownVersion: Int64?
    /// Attempts already made (the relay's count before this one).
    public var attempt: Int
    /// The W3C `traceparent` of the change that caused the write, when it was traced.
    public var traceParent: String?
    /// For the decision feed: the write that was decided (`values` are then its mapping fields).
    public var decided: DecidedWrite?

    public init(
        outboxIDs: [Int64], idempotencyKey: String, operation: RecordDecision.Operation, recordID: String?,
        masterDealID: String?, values: [String: FieldValue], lineageID: UUID, knownVersion: Int64? = nil, attempt: Int = 0,
        traceParent: String? = nil, decided: DecidedWrite? = nil
    ) {
        self.traceParent = traceParent
        self.decided = decided
        self.outboxIDs = outboxIDs
        self.idempotencyKey = idempotencyKey
        self.operation = operation
        self.recordID = recordID
        self.masterDealID = masterDealID
        self.values = values
        self.lineageID = lineageID
        self.knownVersion = knownVersion
        self.attempt = attempt
    }
}

/// Why a delivery failed, as support reads it in the dead-letter queue.
public enum ErrorClass: String, Sendable, Codable, CaseIterable {
    case network
    case timeout
    case serverError = "server_error"
    case rateLimited = "rate_limited"
    case auth
    case validation
    case notFound = "not_found"
    case staleVersion = "stale_version"
    case blocked
    case paymentRequired = "payment_required"
    case exhausted

    /// Failures that say the target (not this record) is unwell: they count toward the circuit breaker.
    public var isTargetLevel: Bool {
        switch self {
        case .network, .timeout, .serverError, .rateLimited, .blocked, .paymentRequired: true
        case .auth, .validation, .notFound, .staleVersion, .exhausted: false
        }
    }
}

/// What became of one delivery.
public enum DeliveryOutcome: Sendable, Equatable {
    /// The target confirmed it. `recordID` is the record written (the new id for a create); `landedAt` is the
    /// record's new stamp when the target says (amoCRM `updated_at`, MasterDeal version).
    case delivered(recordID: String, landedAt: SourceStamp?)
    /// Worth trying again later.
    case retryable(ErrorClass, status: Int?, detail: String, retryAfter: Duration?)
    /// Will never succeed as it is: dead-letter it.
    case permanent(ErrorClass, status: Int?, detail: String)
    /// The target changed since dealsync last read it (MasterDeal 412): re-read and re-decide; `refetched` is the
    /// record as it is now, when the connector read it.
    case stale(refetched: InboxItem?)
    /// The connector cannot work until a person acts (blocked account, expired subscription, lost OAuth grant).
    case paused(ErrorClass, status: Int?, reason: String)
}

extension DeliveryOutcome {
    /// The HTTP status the target answered with, when it answered.
    public var status: Int? {
        switch self {
        case .delivered: 200
        case .retryable(_, let status, _, _), .permanent(_, let status, _), .paused(_, let status, _): status
        case .stale: 412
        }
    }

    /// What the target said, for the attempt history.
    public var detail: String {
        switch self {
        case .delivered, .stale: ""
        case .retryable(_, _, let detail, _), .permanent(_, _, let detail), .paused(_, _, let detail): detail
        }
    }

    /// The class the attempt history files it under.
    public var errorClassName: String {
        switch self {
        case .delivered: "delivered"
        case .retryable(let errorClass, _, _, _), .permanent(let errorClass, _, _), .paused(let errorClass, _, _): errorClass.rawValue
        case .stale: ErrorClass.staleVersion.rawValue
        }
    }

    /// The outcome's kind, as traces and logs name it.
    public var name: String {
        switch self {
        case .delivered: "delivered"
        case .retryable(let errorClass, _, _, _): "retry:\(errorClass.rawValue)"
        case .permanent(let errorClass, _, _): "permanent:\(errorClass.rawValue)"
        case .stale: "stale"
        case .paused(let errorClass, _, _): "paused:\(errorClass.rawValue)"
        }
    }
}

/// A decided write as the decision feed tells it: where it goes and about which link.
public struct DecidedWrite: Sendable, Codable, Equatable {
    /// The connector the write goes to (MasterDeal's or a CRM's).
    public var target: String
    /// The CRM connector of the link (the lane whose sync decided it).
    public var connector: String
    public var linkID: Int64
    /// The CRM record, when the link knows it.
    public var recordID: String?

    enum CodingKeys: String, CodingKey {
        case target, connector
        case linkID = "link_id"
        case recordID = "record_id"
    }

    public init(target: String, connector: String, linkID: Int64, recordID: String?) {
        self.target = target
        self.connector = connector
        self.linkID = linkID
        self.recordID = recordID
    }
}
