import Foundation

extension MasterDealSimulator {
    /// A JSON value: request bodies, deal attributes, and the canonical form idempotency compares.
    ///
    /// Objects are dictionaries, so two bodies that differ only in member order or whitespace are equal;
    /// that is what "canonicalised JSON" means for `Idempotency-Key` replays.
    public enum JSONValue: Sendable, Hashable {
        case null
        case bool(Bool)
        case number(Double)
        case string(String)
        case array([JSONValue])
        case object([String: JSONValue])

        /// Parses JSON text (any top-level value).
        public static func parse(_ data: Data) throws -> JSONValue {
            try JSONDecoder().decode(JSONValue.self, from: data)
        }

        /// Compact JSON text with sorted keys.
        public func serialized() -> Data {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            // Encoding a value built from finite numbers cannot fail.
            return (try? encoder.encode(self)) ?? Data("null".utf8)
        }

        /// The serialized text.
        public var text: String { String(decoding: serialized(), as: UTF8.self) }

        public var objectValue: [String: JSONValue]? {
            if case .object(let members) = self { return members }
            return nil
        }

        public var stringValue: String? {
            if case .string(let text) = self { return text }
            return nil
        }

        public var arrayValue: [JSONValue]? {
            if case .array(let items) = self { return items }
            return nil
        }

        public var isNull: Bool { self == .null }

        /// True for the values an attribute may hold: string, number, boolean or null.
        var isScalar: Bool {
            switch self {
            case .null, .bool, .number, .string: true
            case .array, .object: false
            }
        }

        /// The JSON type name used in validation messages.
        var typeName: String {
            switch self {
            case .null: "null"
            case .bool: "boolean"
            case .number: "number"
            case .string: "string"
            case .array: "array"
            case .object: "object"
            }
        }

        public subscript(key: String) -> JSONValue? { objectValue?[key] }
    }
}

extension MasterDealSimulator.JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([Self].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: Self].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

extension MasterDealSimulator.JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral, ExpressibleByNilLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(arrayLiteral elements: Self...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, Self)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}
