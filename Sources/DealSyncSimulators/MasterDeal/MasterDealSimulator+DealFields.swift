import Foundation

extension MasterDealSimulator {
    /// The validation rules of the deal's fields, shared by creates, merge-patches and seeds.
    ///
    /// Each rule takes the member's JSON value and answers the stored form or a 422 problem whose `pointer`
    /// names the member.
    enum DealFields {
        /// Members a client may send in a merge-patch.
        static let mutable: Set<String> = [
            "opportunity_name", "stage", "amount", "currency", "owner_id", "sla_due_at", "attributes",
        ]

        /// Members a create accepts.
        static let creatable: Set<String> = mutable.union(["account_id"])

        static func object(_ json: JSONValue) throws -> [String: JSONValue] {
            guard let members = json.objectValue else { throw Problem.validation("The body must be a JSON object.") }
            return members
        }

        static func rejectUnknown(_ members: [String: JSONValue], allowed: Set<String>) throws {
            if let unknown = members.keys.filter({ !allowed.contains($0) }).sorted().first {
                throw Problem.validation("Unknown or read-only member \(unknown).", pointer: "/\(unknown)")
            }
        }

        static func requiredText(_ members: [String: JSONValue], _ key: String) throws -> String {
            guard let value = members[key] else {
                throw Problem.validation("\(key) is required.", pointer: "/\(key)")
            }
            return try text(value, key)
        }

        /// A non-empty string (not null).
        static func text(_ value: JSONValue, _ key: String) throws -> String {
            guard let text = value.stringValue, !text.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw Problem.validation("\(key) must be a non-empty string.", pointer: "/\(key)")
            }
            return text
        }

        /// A non-empty string or null.
        static func optionalText(_ value: JSONValue, _ key: String) throws -> String? {
            value.isNull ? nil : try text(value, key)
        }

        static func stage(_ value: JSONValue, stages: [String]?) throws -> String {
            let stage = try text(value, "stage")
            if let stages, !stages.contains(stage) {
                throw Problem.validation("Unknown stage \(stage).", pointer: "/stage")
            }
            return stage
        }

        /// A non-negative decimal string, normalised to at least two fraction digits; or null.
        static func amount(_ value: JSONValue) throws -> String? {
            if value.isNull { return nil }
            guard let text = value.stringValue, !text.hasPrefix("-"), let decimal = DecimalString.parse(text) else {
                throw Problem.validation(
                    "amount must be a non-negative decimal string such as \"150000.00\".",
                    pointer: "/amount")
            }
            return DecimalString.format(decimal, minimumFractionDigits: 2)
        }

        /// Three upper-case letters (ISO 4217); or null.
        static func currency(_ value: JSONValue) throws -> String? {
            if value.isNull { return nil }
            guard let text = value.stringValue, text.utf8.count == 3,
                text.utf8.allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") })
            else {
                throw Problem.validation("currency must be an ISO 4217 code such as \"RUB\".", pointer: "/currency")
            }
            return text
        }

        /// ISO-8601 with an explicit offset, kept as sent; or null.
        static func slaDueAt(_ value: JSONValue) throws -> String? {
            if value.isNull { return nil }
            guard let text = value.stringValue, DateText.millis(text) != nil else {
                throw Problem.validation("sla_due_at must be ISO-8601 with an offset.", pointer: "/sla_due_at")
            }
            return text
        }

        /// An object whose values are strings, numbers, booleans or null (null removes the key).
        static func attributes(_ value: JSONValue) throws -> [String: JSONValue] {
            guard let members = value.objectValue else {
                throw Problem.validation("attributes must be an object.", pointer: "/attributes")
            }
            for (key, member) in members where key.isEmpty || !member.isScalar {
                throw Problem.validation(
                    "attributes values must be strings, numbers, booleans or null.",
                    pointer: "/attributes/\(key)")
            }
            return members
        }

        /// Amount requires currency.
        static func checkMoney(amount: String?, currency: String?) throws {
            if amount != nil && currency == nil {
                throw Problem.validation("amount requires currency.", pointer: "/currency")
            }
        }

        /// Whether two `sla_due_at` texts name the same instant.
        static func sameInstant(_ a: String?, _ b: String?) -> Bool {
            switch (a, b) {
            case (nil, nil): true
            case (let a?, let b?): DateText.millis(a) == DateText.millis(b)
            default: false
            }
        }
    }
}
