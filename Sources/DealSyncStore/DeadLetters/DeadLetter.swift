import DealSyncCore
import Foundation

/// A write that failed for good, with everything support needs to understand and replay it.
public struct DeadLetter: Sendable, Equatable, Codable {
    public var id: Int64
    public var outboxID: Int64
    public var connector: String
    public var recordKey: String
    public var masterDealID: String?
    public var operation: String
    public var values: [String: FieldValue]
    public var idempotencyKey: String
    public var lineageID: UUID
    public var errorClass: String
    public var lastError: String?
    public var attempts: [AttemptRecord]
    public var status: String
    public var replayCount: Int
    public var createdAt: Date
    public var resolvedAt: Date?
    public var resolvedBy: String?
    public var resolutionReason: String?

    enum CodingKeys: String, CodingKey {
        case id, outboxID = "outbox_id", connector, recordKey = "record_key", masterDealID = "master_deal_id", operation,
            values, idempotencyKey = "idempotency_key", lineageID = "lineage_id", errorClass = "error_class",
            lastError = "last_error", attempts, status, replayCount = "replay_count", createdAt = "created_at",
            resolvedAt = "resolved_at", resolvedBy = "resolved_by", resolutionReason = "resolution_reason"
    }
}

/// Which dead letters a support command is about.
public struct DeadLetterFilter: Sendable {
    public var connector: String?
    public var since: Date?
    public var errorClass: String?
    public var deal: String?
    /// `open` by default; `nil` for every status.
    public var status: String?

    public init(connector: String? = nil, since: Date? = nil, errorClass: String? = nil, deal: String? = nil, status: String? = "open") {
        self.connector = connector
        self.since = since
        self.errorClass = errorClass
        self.deal = deal
        self.status = status
    }
}

/// Where a write came from: the inbox rows that share its lineage id.
public struct LineageStep: Sendable, Equatable, Codable {
    public var inboxID: Int64
    public var connector: String
    public var source: String
    public var dedupeKey: String
    public var receivedAt: Date
    public var status: String

    enum CodingKeys: String, CodingKey {
        case inboxID = "inbox_id", connector, source, dedupeKey = "dedupe_key", receivedAt = "received_at", status
    }
}
