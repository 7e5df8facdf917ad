import DealSyncCore
import Foundation

extension DealHistory {
    /// One link of the deal: a CRM record joined to a MasterDeal deal, while it lasted.
    public struct Link: Sendable, Equatable {
        public var id: Int64
        public var connector: String
        public var masterDealID: String?
        public var recordID: String?
        /// `active` or `unlinked`.
        public var state: String
        public var lastLineageID: UUID?
        public var createdAt: Date
        public var updatedAt: Date
    }

    /// The stored state of one field of one link.
    public struct FieldStateRow: Sendable, Equatable {
        public var linkID: Int64
        public var field: String
        public var state: FieldState
        public var updatedAt: Date
    }

    /// One inbox row, raw: the caller decodes its body with the connector that stored it.
    public struct InboxEntry: Sendable, Equatable {
        public var id: Int64
        public var connector: String
        public var dedupeKey: String
        public var source: String
        public var receivedAt: Date
        public var status: String
        public var processedAt: Date?
        public var error: String?
        public var lineageID: UUID
        public var headers: [String: String]
        public var contentType: String?
        public var body: Data
    }

    /// One outbox row with every attempt made to deliver it.
    public struct OutboxEntry: Sendable, Equatable {
        public var id: Int64
        public var target: String
        public var recordKey: String
        public var linkID: Int64?
        public var masterDealID: String?
        public var operation: String
        public var values: [String: FieldValue]
        public var idempotencyKey: String
        public var lineageID: UUID
        /// The inbox row whose observation caused it (none for confirmations, replays and repairs).
        public var inboxID: Int64?
        /// `pending`, `in_flight`, `done`, `dead` or `superseded`.
        public var status: String
        public var attempts: [AttemptRecord]
        public var replayCount: Int
        public var createdAt: Date
        public var updatedAt: Date
        public var doneAt: Date?
    }

    /// Everything stored about one deal, read without changing anything.
    public struct Records: Sendable, Equatable {
        public var links: [Link]
        public var fieldStates: [FieldStateRow]
        public var inbox: [InboxEntry]
        public var outbox: [OutboxEntry]
        public var deadLetters: [DeadLetter]
        public var divergence: [DivergenceRecord]
        public var audit: [AuditEntry]
        /// Whether the scan of inbox bodies stopped at ``DealHistory/inboxScanLimit`` rows: older observations
        /// that caused nothing may be missing.
        public var inboxScanTruncated: Bool
    }
}
