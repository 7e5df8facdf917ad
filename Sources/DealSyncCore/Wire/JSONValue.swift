import Foundation

/// Any JSON value, for payloads whose shape varies (amoCRM custom fields, Bitrix24 results, MasterDeal
/// attributes). Numbers keep their exact text.
public indirect enum JSONValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let bool = try? container.decode(Bool.self) {
            self = .bool(bool)
        } else if let decimal = try? container.decode(Decimal.self) {
            self = .number(DecimalText.format(decimal))
        } else if let string = try? container.decode(String.self) {
            self = .string(string)
        } else if let array = try? container.decode([JSONValue].self) {
            self = .array(array)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .number(let n): try container.encode(Decimal(string: n, locale: Locale(identifier: "en_US_POSIX")) ?? 0)
        case .string(let s): try container.encode(s)
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }

    /// Parses JSON text; `nil` when it is not JSON.
    public static func parse(_ data: Data) -> JSONValue? {
        JSONText.parse(data)
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public subscript(index: Int) -> JSONValue? {
        if case .array(let a) = self, a.indices.contains(index) { return a[index] }
        return nil
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// A string, or a number's text (APIs that send ids either way).
    public var text: String? {
        switch self {
        case .string(let s): s
        case .number(let n): n
        case .bool(let b): String(b)
        default: nil
        }
    }

    public var int64: Int64? {
        switch self {
        case .number(let n): Int64(n) ?? Decimal(string: n).map { NSDecimalNumber(decimal: $0).int64Value }
        case .string(let s): Int64(s)
        default: nil
        }
    }

    public var array: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var object: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }

    public var isNull: Bool { self == .null }

    /// Serialises (keys sorted).
    public func data() -> Data {
        JSONText.data(self)
    }
}
