import Foundation

/// A money amount with its ISO 4217 currency code.
public struct Money: Sendable, Hashable, Codable, CustomStringConvertible {
    public var amount: Decimal
    public var currency: String

    public init(amount: Decimal, currency: String) {
        self.amount = DecimalText.normalized(amount)
        self.currency = currency.uppercased()
    }

    public static func == (lhs: Money, rhs: Money) -> Bool {
        lhs.currency == rhs.currency && lhs.amount == rhs.amount
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(currency)
        hasher.combine(DecimalText.format(amount))
    }

    enum CodingKeys: String, CodingKey { case amount, currency }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let text = try container.decode(String.self, forKey: .amount)
        guard let amount = DecimalText.parse(text) else {
            throw DecodingError.dataCorruptedError(forKey: .amount, in: container, debugDescription: "not a decimal")
        }
        self.init(amount: amount, currency: try container.decode(String.self, forKey: .currency))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(DecimalText.format(amount), forKey: .amount)
        try container.encode(currency, forKey: .currency)
    }

    public var description: String { "\(DecimalText.format(amount, minimumFractionDigits: 2)) \(currency)" }
}

/// One field's value in either side's representation, after the mapping normalised it.
///
/// Values are compared exactly: the mapping turns every wire form (amoCRM strings, Bitrix24 `"1000.00"`,
/// ISO-8601 dates) into one of these cases first, so a lossless round trip compares equal.
public enum FieldValue: Sendable, Hashable, Codable, CustomStringConvertible {
    case null
    case text(String)
    case integer(Int64)
    case decimal(Decimal)
    case bool(Bool)
    case money(Money)
    /// Unix seconds.
    case time(Int64)

    public static func == (lhs: FieldValue, rhs: FieldValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.text(let a), .text(let b)): a == b
        case (.integer(let a), .integer(let b)): a == b
        case (.decimal(let a), .decimal(let b)): a == b
        case (.bool(let a), .bool(let b)): a == b
        case (.money(let a), .money(let b)): a == b
        case (.time(let a), .time(let b)): a == b
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .text(let v): hasher.combine(1); hasher.combine(v)
        case .integer(let v): hasher.combine(2); hasher.combine(v)
        case .decimal(let v): hasher.combine(3); hasher.combine(DecimalText.format(v))
        case .bool(let v): hasher.combine(4); hasher.combine(v)
        case .money(let v): hasher.combine(5); hasher.combine(v)
        case .time(let v): hasher.combine(6); hasher.combine(v)
        }
    }

    public var isNull: Bool { self == .null }

    /// A short human form for tables and the divergence log.
    public var description: String {
        switch self {
        case .null: "null"
        case .text(let v): "\"\(v)\""
        case .integer(let v): String(v)
        case .decimal(let v): DecimalText.format(v)
        case .bool(let v): String(v)
        case .money(let v): v.description
        case .time(let v): Timestamp.iso8601(millis: v * 1000)
        }
    }

    /// The value as plain text when it has an obvious one (identifiers, enum codes, numbers).
    public var plainText: String? {
        switch self {
        case .null, .money: nil
        case .text(let v): v
        case .integer(let v): String(v)
        case .decimal(let v): DecimalText.format(v)
        case .bool(let v): String(v)
        case .time(let v): String(v)
        }
    }

    // MARK: Codable — a tagged JSON form: {"text":"x"}, {"money":{"amount":"1.5","currency":"RUB"}}, {"null":true}.
    // An explicit null is tagged so that `FieldValue?` keeps "known to be empty" apart from "unknown"; a bare JSON
    // null still decodes as `.null` where a value is required.

    private enum CodingKeys: String, CodingKey { case null, text, integer, decimal, bool, money, time }

    public init(from decoder: any Decoder) throws {
        if let single = try? decoder.singleValueContainer(), single.decodeNil() {
            self = .null
            return
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard let key = container.allKeys.first else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "empty value"))
        }
        switch key {
        case .null: self = .null
        case .text: self = .text(try container.decode(String.self, forKey: key))
        case .integer: self = .integer(try container.decode(Int64.self, forKey: key))
        case .decimal:
            let text = try container.decode(String.self, forKey: key)
            guard let value = DecimalText.parse(text) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "not a decimal")
            }
            self = .decimal(value)
        case .bool: self = .bool(try container.decode(Bool.self, forKey: key))
        case .money: self = .money(try container.decode(Money.self, forKey: key))
        case .time: self = .time(try container.decode(Int64.self, forKey: key))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .null: try container.encode(true, forKey: .null)
        case .text(let v): try container.encode(v, forKey: .text)
        case .integer(let v): try container.encode(v, forKey: .integer)
        case .decimal(let v): try container.encode(DecimalText.format(v), forKey: .decimal)
        case .bool(let v): try container.encode(v, forKey: .bool)
        case .money(let v): try container.encode(v, forKey: .money)
        case .time(let v): try container.encode(v, forKey: .time)
        }
    }
}
