import Foundation

/// How onboarding recognises an existing CRM record as an existing MasterDeal deal when neither carries the
/// other's id (`matching:` in a mapping). Pure.
///
/// The link field is always tried first (a record carrying `master_deal_id`), then each key in order. A key
/// decides as soon as it has a value on both sides: one record and one deal with the value are linked; more than
/// one on either side is ambiguous and is reported, never guessed.
public struct MatchingRules: Sendable, Hashable {
    /// One key: the mapping fields whose canonical values, normalised, must all be equal.
    public struct Key: Sendable, Hashable {
        /// The mapping's field names (`fields[].name`).
        public var fields: [String]
        public var normalise: Normalisation

        public init(fields: [String], normalise: Normalisation = .text) {
            self.fields = fields
            self.normalise = normalise
        }

        /// How reports name it: `phone`, `title + owner`.
        public var name: String { fields.joined(separator: " + ") }
    }

    /// How a value is compared.
    public enum Normalisation: String, Sendable, Hashable, CaseIterable {
        /// Trimmed, case-folded, runs of white space as one space: `  ООО Ромашка ` = `ооо ромашка`.
        case text
        /// Digits only; an 11-digit number starting with 7 or 8 compares by its last 10 digits, so
        /// `+7 (912) 345-67-89` = `8 912 345 67 89` = `9123456789`.
        case phone
        /// Trimmed and lower-cased.
        case email
        /// As it is.
        case exact

        public func apply(_ text: String) -> String {
            switch self {
            case .text:
                return text.lowercased().split(whereSeparator: \.isWhitespace).joined(separator: " ")
            case .phone:
                let digits = String(text.unicodeScalars.filter { ("0"..."9").contains($0) }.map(Character.init))
                if digits.count == 11, let first = digits.first, first == "7" || first == "8" { return String(digits.dropFirst()) }
                return digits
            case .email:
                return text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
            case .exact:
                return text
            }
        }
    }

    /// What happens to an in-scope record that matches nothing.
    public enum NoMatch: String, Sendable, Hashable, CaseIterable {
        /// Created on the other side, as the mapping's `create:` allows.
        case create
        /// Left unlinked: never created on the other side; linking it through its link field still works.
        case leave
    }

    public var keys: [Key]
    public var noMatch: NoMatch

    public init(keys: [Key] = [], noMatch: NoMatch = .create) {
        self.keys = keys
        self.noMatch = noMatch
    }
}

extension FieldValue {
    /// The value as text to compare by a matching key; `nil` when empty (an empty value matches nothing).
    var matchingText: String? {
        switch self {
        case .null: nil
        case .text(let text): text.isEmpty ? nil : text
        case .integer(let number): String(number)
        case .decimal(let number): DecimalText.format(number)
        case .money(let money): "\(DecimalText.format(money.amount)) \(money.currency)"
        case .time(let seconds): String(seconds)
        case .bool(let flag): String(flag)
        }
    }
}
