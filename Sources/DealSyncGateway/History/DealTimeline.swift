import Foundation

/// One deal's story across every system, as `dealsync history` tells it: what each system said, what dealsync
/// decided per field and by which rule, what it wrote and how each attempt went, dead letters and what support
/// did with them, drift, and links made and ended — in time order, with the lineage id that ties a write to
/// the observation that caused it. Personal values are masked as the divergence log masks them.
public struct DealTimeline: Sendable, Encodable {
    public var masterDealID: String?
    public var records: [Record]
    /// What is decided now, per linked record and field.
    public var fields: [FieldNow]
    public var entries: [Entry]
    /// Caveats about completeness (an inbox search that stopped at its limit).
    public var notes: [String]

    enum CodingKeys: String, CodingKey {
        case masterDealID = "master_deal_id", records, fields, entries, notes
    }

    /// A CRM record linked to the deal (or waiting for its record to be created).
    public struct Record: Sendable, Encodable {
        public var connector: String
        public var recordID: String?
        /// `active` or `unlinked`.
        public var state: String
        public var linkedAt: Date
        public var endedAt: Date?

        enum CodingKeys: String, CodingKey {
            case connector, recordID = "record_id", state, linkedAt = "linked_at", endedAt = "ended_at"
        }
    }

    /// A field's decided value and what each side holds, from the stored field state.
    public struct FieldNow: Sendable, Encodable {
        public var connector: String
        public var field: String
        public var decided: String?
        public var decidedBy: String?
        public var decidedAt: String?
        public var master: String?
        public var crm: String?
        /// Writes of ours not yet seen back, per side.
        public var pendingMaster: Int
        public var pendingCRM: Int

        enum CodingKeys: String, CodingKey {
            case connector, field, decided, decidedBy = "decided_by", decidedAt = "decided_at", master, crm,
                pendingMaster = "pending_master", pendingCRM = "pending_crm"
        }
    }

    /// One thing that happened.
    public struct Entry: Sendable, Encodable {
        public enum Kind: String, Sendable, Encodable, CaseIterable {
            /// A system said something about a record (a webhook, a poll, an event, a fetch).
            case observation
            /// dealsync decided a field: a sequential change, a conflict, a one-way violation, a delete.
            case decision
            /// An outbox row: a write of decided values to a target.
            case write
            /// One delivery attempt of a write, or its confirmation.
            case attempt
            case deadLetter = "dead_letter"
            /// Support replayed a dead letter.
            case replay
            /// Any other support action on this deal's entries (a drop, a drift repair).
            case support
            case drift
            case driftClosed = "drift_closed"
            case linkMade = "link_made"
            case linkEnded = "link_ended"

            /// Order among entries stamped at the same instant (one transaction stamps its rows alike).
            var rank: Int {
                switch self {
                case .observation: 0
                case .decision: 1
                case .drift: 2
                case .linkMade: 3
                case .linkEnded: 4
                case .write: 5
                case .attempt: 6
                case .deadLetter: 7
                case .replay: 8
                case .support: 9
                case .driftClosed: 10
                }
            }
        }

        public var at: Date
        public var kind: Kind
        /// The system the entry is about (an observation's source, a write's target).
        public var connector: String
        public var recordID: String?
        public var lineageID: UUID?
        public var field: String?
        /// One line in people's words (values masked).
        public var summary: String
        public var observation: Observation?
        public var decision: Decision?
        public var write: Write?
        public var attempt: Attempt?
        public var deadLetter: DeadLetterInfo?
        public var support: Support?

        enum CodingKeys: String, CodingKey {
            case at, kind, connector, recordID = "record_id", lineageID = "lineage_id", field, summary, observation, decision,
                write, attempt, deadLetter = "dead_letter", support
        }
    }

    public struct Observation: Sendable, Encodable {
        public var inboxID: Int64
        /// `webhook`, `poll`, `fetch`, `refetch` or `replay`; MasterDeal events arrive as webhooks.
        public var source: String
        public var receivedAt: Date
        /// The state's own time in the source's clock (and MasterDeal's version).
        public var stamp: String?
        /// `upsert`, `delete`, `restore`, or `fetch` for an id-only event.
        public var action: String
        /// The inbox row's status: `processed`, `pending`, `failed`, `ignored`.
        public var status: String
        public var byIntegration: Bool
        /// The fields it carried in the source's own terms, as its connector decodes them.
        public var fields: [String: String]
        public var error: String?

        enum CodingKeys: String, CodingKey {
            case inboxID = "inbox_id", source, receivedAt = "received_at", stamp, action, status, byIntegration = "by_integration",
                fields, error
        }
    }

    public struct Decision: Sendable, Encodable {
        /// The divergence log entry, when the decision is one.
        public var divergenceID: Int64?
        /// `change`, `conflict`, `one_way_violation`, `delete`, `unmapped_value` or `drift`.
        public var kind: String
        /// `sequential` or `concurrent` for changes and conflicts.
        public var order: String?
        public var rule: String?
        public var winner: String?
        public var masterValue: String?
        public var crmValue: String?
        public var masterAt: Date?
        public var crmAt: Date?
        public var outcome: String
        /// Drift only: whether it is still open.
        public var open: Bool?

        enum CodingKeys: String, CodingKey {
            case divergenceID = "divergence_id", kind, order, rule, winner, masterValue = "master_value", crmValue = "crm_value",
                masterAt = "master_at", crmAt = "crm_at", outcome, open
        }
    }

    public struct Write: Sendable, Encodable {
        public var outboxID: Int64
        public var target: String
        /// `create` or `update`.
        public var operation: String
        /// `pending`, `in_flight`, `done`, `dead` or `superseded`.
        public var status: String
        public var values: [String: String]
        public var idempotencyKey: String
        /// The inbox row whose observation caused it.
        public var inboxID: Int64?
        /// Other writes sent with it in one request.
        public var coalescedWith: [Int64]
        public var replays: Int
        public var doneAt: Date?

        enum CodingKeys: String, CodingKey {
            case outboxID = "outbox_id", target, operation, status, values, idempotencyKey = "idempotency_key",
                inboxID = "inbox_id", coalescedWith = "coalesced_with", replays, doneAt = "done_at"
        }
    }

    public struct Attempt: Sendable, Encodable {
        /// The writes this attempt carried (several when coalesced).
        public var outboxIDs: [Int64]
        public var number: Int
        public var status: Int?
        /// `delivered` for a confirmation, else why it failed (`server_error`, `validation`, ...).
        public var errorClass: String
        public var confirmed: Bool
        public var detail: String
        public var worker: String?

        enum CodingKeys: String, CodingKey {
            case outboxIDs = "outbox_ids", number, status, errorClass = "error_class", confirmed, detail, worker
        }
    }

    public struct DeadLetterInfo: Sendable, Encodable {
        public var id: Int64
        public var outboxID: Int64
        public var errorClass: String
        public var lastError: String?
        public var attempts: Int
        /// `open`, `replayed` or `dropped`.
        public var status: String
        public var replayCount: Int

        enum CodingKeys: String, CodingKey {
            case id, outboxID = "outbox_id", errorClass = "error_class", lastError = "last_error", attempts, status,
                replayCount = "replay_count"
        }
    }

    public struct Support: Sendable, Encodable {
        public var auditID: Int64
        public var actor: String
        public var action: String
        public var target: String?
        public var reason: String?
        public var details: [String: String]

        enum CodingKeys: String, CodingKey {
            case auditID = "audit_id", actor, action, target, reason, details
        }
    }
}
