import DealSyncCore
import Foundation

/// An outbox row claimed by the relay, with what it needs to send it.
public struct ClaimedWrite: Sendable, Equatable {
    public var id: Int64
    public var target: String
    public var recordKey: String
    /// The lane (CRM connector) whose change caused it; for a CRM target, that CRM.
    public var lane: String
    public var linkID: Int64?
    public var masterDealID: String?
    public var operation: RecordDecision.Operation
    public var values: [String: FieldValue]
    public var idempotencyKey: String
    public var lineageID: UUID
    public var attempts: Int
    public var createdAt: Date
    /// The record the write goes to, as known now (the link's CRM record id or MasterDeal deal id).
    public var recordID: String?
    /// The MasterDeal version dealsync last saw for this link.
    public var knownVersion: Int64?
    /// The worker that claimed it.
    public var claimedBy: String?
    /// Which claim of the row this is: every claim increases it and nothing resets it.
    public var claimSequence: Int64 = 0
    /// The `traceparent` stored with the inbox row whose decision made this write.
    public var traceParent: String?
    /// A row of the decision feed: the write that was decided.
    public var decided: DecidedWrite?
}

/// Consecutive claimed writes for one record, sent as one delivery.
public struct WriteGroup: Sendable, Equatable {
    public var writes: [ClaimedWrite]

    public var head: ClaimedWrite { writes[0] }
    public var ids: [Int64] { writes.map(\.id) }

    /// The delivery: values merged oldest first, so later writes win.
    public var delivery: Delivery {
        var values: [String: FieldValue] = [:]
        for write in writes { values.merge(write.values) { _, newer in newer } }
        let key =
            writes.count == 1
            ? head.idempotencyKey
            : IdempotencyKey.make(
                target: head.target, record: head.recordKey, operation: "coalesced", values: values,
                cause: writes.map(\.idempotencyKey).joined(separator: ","))
        return Delivery(
            outboxIDs: ids, idempotencyKey: key, operation: head.operation, recordID: head.recordID,
            masterDealID: head.masterDealID, values: values, lineageID: head.lineageID,
            knownVersion: head.knownVersion, attempt: head.attempts, traceParent: head.traceParent, decided: head.decided)
    }

    /// When the oldest write was made (for max-age decisions).
    public var createdAt: Date { writes.map(\.createdAt).min() ?? head.createdAt }
}

/// One attempt in a row's history, as support sees it in `dlq show`.
public struct AttemptRecord: Sendable, Codable, Equatable {
    public var at: Date
    public var status: Int?
    public var errorClass: String
    public var detail: String
    public var worker: String?

    public init(at: Date = Date(), status: Int?, errorClass: String, detail: String, worker: String? = nil) {
        self.at = at
        self.status = status
        self.errorClass = errorClass
        self.detail = String(detail.prefix(500))
        self.worker = worker
    }

    enum CodingKeys: String, CodingKey {
        case at, status, errorClass = "error_class", detail, worker
    }

    /// The attempt as an attempt log of one entry, `[{…}]`: its Codable form as ``StoreJSON`` writes it (keys sorted,
    /// `at` in seconds since 2001 as `JSONEncoder` writes a date), without the coders: the relay writes one for every
    /// write it delivers, and `JSONEncoder` cost more than the rest of making the round's record.
    var logText: String { "[\(jsonText)]" }

    /// The attempt itself, `{…}`, as ``StoreJSON`` writes it.
    var jsonText: String {
        var members: [String: JSONValue] = [
            "at": .number(Self.number(at.timeIntervalSinceReferenceDate)), "detail": .string(detail), "error_class": .string(errorClass),
        ]
        members["status"] = status.map { .number(String($0)) }
        members["worker"] = worker.map { .string($0) }
        return JSONText.text(.object(members))
    }

    /// A number as `JSONEncoder` writes it: its shortest form, without a fraction of zero.
    private static func number(_ value: Double) -> String {
        let text = value.description
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }
}
