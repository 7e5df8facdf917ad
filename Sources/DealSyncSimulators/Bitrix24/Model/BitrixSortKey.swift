import Foundation

/// A field value as the portal's database compares it: NULL first, numbers (and instants) numerically, text
/// case-insensitively (MySQL's default collation).
enum BitrixSortKey: Sendable, Comparable, Hashable {
    case null
    case number(Decimal)
    case text(String)

    static let numericTypes: Set<String> = [
        "integer", "double", "user", "crm_category", "crm_company", "crm_contact", "crm_quote", "crm_lead",
    ]
    static let dateTypes: Set<String> = ["date", "datetime"]

    /// A stored value (`nil` is NULL; an empty string is text).
    init(wire: String?, type: String, portal: BitrixPortal) {
        guard let wire else {
            self = .null
            return
        }
        if Self.numericTypes.contains(type) {
            self = Decimal(string: wire, locale: Locale(identifier: "en_US_POSIX")).map { .number($0) } ?? .text(wire.lowercased())
        } else if Self.dateTypes.contains(type) {
            self = portal.parseDateTime(wire).map { .number(Decimal($0)) } ?? .null
        } else {
            self = .text(wire.lowercased())
        }
    }

    /// A value given in a filter, read as PHP would for the field's type; `nil` when a date does not parse
    /// (the condition is then dropped).
    init?(filterValue: String, type: String, portal: BitrixPortal) {
        if Self.numericTypes.contains(type) {
            self = .number(Self.phpNumber(filterValue))
        } else if Self.dateTypes.contains(type) {
            guard let seconds = portal.parseDateTime(filterValue) else { return nil }
            self = .number(Decimal(seconds))
        } else {
            self = .text(filterValue.lowercased())
        }
    }

    var isNull: Bool { self == .null }

    /// Empty text or NULL: what `=FIELD: ""` matches.
    var isEmpty: Bool {
        switch self {
        case .null: true
        case .text(let text): text.isEmpty
        case .number: false
        }
    }

    static func < (lhs: BitrixSortKey, rhs: BitrixSortKey) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): false
        case (.null, _): true
        case (_, .null): false
        case (.number(let a), .number(let b)): a < b
        case (.number, .text): true
        case (.text, .number): false
        case (.text(let a), .text(let b)): a < b
        }
    }

    /// PHP's `floatval`: the longest numeric prefix (`"12abc"` → 12, `"abc"` → 0, `"15 000"` → 15).
    static func phpNumber(_ text: String) -> Decimal {
        var prefix = ""
        var sawDot = false
        for (index, character) in text.trimmingCharacters(in: .whitespaces).enumerated() {
            if character.isASCII, character.isNumber {
                prefix.append(character)
            } else if character == ".", !sawDot {
                sawDot = true
                prefix.append(character)
            } else if (character == "-" || character == "+"), index == 0 {
                prefix.append(character)
            } else {
                break
            }
        }
        return Decimal(string: prefix, locale: Locale(identifier: "en_US_POSIX")) ?? 0
    }
}
