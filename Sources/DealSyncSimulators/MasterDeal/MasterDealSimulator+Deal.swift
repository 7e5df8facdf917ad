import Foundation

extension MasterDealSimulator {
    /// A canonical deal as MasterDeal stores and serves it.
    public struct Deal: Sendable, Hashable {
        /// `md-` and eight lowercase hex digits for deals MasterDeal creates.
        public var id: String
        public var accountID: String
        public var opportunityName: String
        public var stage: String
        /// Exact decimal text with at least two fraction digits (`"150000.00"`), or nil.
        public var amount: String?
        /// ISO 4217 code, or nil.
        public var currency: String?
        public var ownerID: String?
        /// ISO-8601 with an offset, as the writer sent it.
        public var slaDueAt: String?
        /// Unix milliseconds.
        public var createdAt: Int64
        /// Unix milliseconds.
        public var updatedAt: Int64
        /// Starts at 1, +1 on every change.
        public var version: Int
        /// Values are strings, numbers, booleans or null.
        public var attributes: [String: JSONValue]

        public init(
            id: String, accountID: String, opportunityName: String, stage: String,
            amount: String? = nil, currency: String? = nil, ownerID: String? = nil, slaDueAt: String? = nil,
            createdAt: Int64, updatedAt: Int64, version: Int = 1, attributes: [String: JSONValue] = [:]
        ) {
            self.id = id
            self.accountID = accountID
            self.opportunityName = opportunityName
            self.stage = stage
            self.amount = amount
            self.currency = currency
            self.ownerID = ownerID
            self.slaDueAt = slaDueAt
            self.createdAt = createdAt
            self.updatedAt = updatedAt
            self.version = version
            self.attributes = attributes
        }

        /// The wire form (snake_case members; nullable members are always present).
        public var json: JSONValue {
            .object([
                "id": .string(id),
                "account_id": .string(accountID),
                "opportunity_name": .string(opportunityName),
                "stage": .string(stage),
                "amount": amount.map(JSONValue.string) ?? .null,
                "currency": currency.map(JSONValue.string) ?? .null,
                "owner_id": ownerID.map(JSONValue.string) ?? .null,
                "sla_due_at": slaDueAt.map(JSONValue.string) ?? .null,
                "created_at": .string(WireTime.format(createdAt)),
                "updated_at": .string(WireTime.format(updatedAt)),
                "version": .number(Double(version)),
                "attributes": .object(attributes),
            ])
        }

        /// The entity tag of this version: `"<version>"`.
        public var etag: String { "\"\(version)\"" }

        /// Reads a seed deal in the wire form; `id`, `version`, `created_at` and `updated_at` may be absent.
        public init(seed json: JSONValue, now: Int64) throws {
            guard var members = json.objectValue else { throw Problem.validation("A seed deal must be an object.") }
            func take(_ key: String) -> JSONValue? { members.removeValue(forKey: key) }
            let id = take("id")
            let version = take("version")
            let createdAt = take("created_at")
            let updatedAt = take("updated_at")
            let draft = try DealDraft(json: .object(members), stages: nil)
            func time(_ value: JSONValue?, _ name: String) throws -> Int64? {
                guard let value, !value.isNull else { return nil }
                guard let text = value.stringValue, let millis = DateText.millis(text) else {
                    throw Problem.validation("\(name) must be an ISO-8601 timestamp with an offset.", pointer: "/\(name)")
                }
                return millis
            }
            let created = try time(createdAt, "created_at") ?? now
            var versionNumber = 1
            if let version, !version.isNull {
                guard case .number(let number) = version, number >= 1, number == number.rounded() else {
                    throw Problem.validation("version must be an integer of at least 1.", pointer: "/version")
                }
                versionNumber = Int(number)
            }
            self = draft.makeDeal(id: id?.stringValue ?? MasterDealSimulator.newDealID(), now: created)
            self.updatedAt = try time(updatedAt, "updated_at") ?? created
            self.version = versionNumber
        }

        /// Whether two deals hold the same values (ignoring version and timestamps).
        func sameContent(as other: Deal) -> Bool {
            var a = self
            var b = other
            (a.version, a.updatedAt, a.createdAt) = (0, 0, 0)
            (b.version, b.updatedAt, b.createdAt) = (0, 0, 0)
            return a == b
        }
    }

    /// A note attached to a deal (`POST /v1/deals/{id}/notes`); notes do not change the deal.
    public struct Note: Sendable, Hashable {
        public var id: String
        public var dealID: String
        public var text: String
        public var createdAt: Int64

        public var json: JSONValue {
            .object([
                "id": .string(id), "deal_id": .string(dealID), "text": .string(text),
                "created_at": .string(WireTime.format(createdAt)),
            ])
        }
    }

    /// A new deal id: `md-` and eight lowercase hex digits.
    static func newDealID() -> String {
        "md-" + String(format: "%08x", UInt32.random(in: 0...UInt32.max))
    }

    /// MasterDeal's timestamp form: UTC with milliseconds, `2026-11-23T10:00:00.123Z`.
    enum WireTime {
        static func format(_ millis: Int64) -> String {
            DateText.utcMillis(millis)
        }

        static func millis(_ date: Date) -> Int64 {
            Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        }
    }
}
