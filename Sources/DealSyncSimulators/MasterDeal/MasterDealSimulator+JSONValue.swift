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

        /// Compact JSON text, keys in the order of their bytes, `/` unescaped. Written by the simulator itself rather
        /// than by `JSONEncoder`, which cost the simulated MasterDeal more than the rest of answering a write and
        /// announcing it (every write is answered with the deal and published as an event).
        public func serialized() -> Data { Data(bytes()) }

        /// The serialized text.
        public var text: String { String(decoding: bytes(), as: UTF8.self) }

        func bytes() -> [UInt8] {
            var out: [UInt8] = []
            out.reserveCapacity(256)
            write(into: &out)
            return out
        }

        private func write(into out: inout [UInt8]) {
            switch self {
            case .null: out += "null".utf8
            case .bool(let flag): out += (flag ? "true" : "false").utf8
            case .number(let number): out += Self.numberText(number).utf8
            case .string(let text): Self.write(string: text, into: &out)
            case .array(let items):
                out.append(UInt8(ascii: "["))
                for (index, item) in items.enumerated() {
                    if index > 0 { out.append(UInt8(ascii: ",")) }
                    item.write(into: &out)
                }
                out.append(UInt8(ascii: "]"))
            case .object(let members):
                out.append(UInt8(ascii: "{"))
                for (index, key) in members.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                    if index > 0 { out.append(UInt8(ascii: ",")) }
                    Self.write(string: key, into: &out)
                    out.append(UInt8(ascii: ":"))
                    members[key]!.write(into: &out)
                }
                out.append(UInt8(ascii: "}"))
            }
        }

        /// A number as JSON writes it: integral values without a fraction (`150000`), others in their shortest
        /// form (`0.5`, `1e+21`); a value that is not finite has no JSON form and is written `null`.
        static func numberText(_ number: Double) -> String {
            guard number.isFinite else { return "null" }
            let text = number.description
            return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
        }

        /// A string with `"`, `\` and control characters escaped; everything else as its UTF-8.
        static func write(string: String, into out: inout [UInt8]) {
            out.append(UInt8(ascii: "\""))
            for byte in string.utf8 {
                switch byte {
                case UInt8(ascii: "\""): out += #"\""#.utf8
                case UInt8(ascii: "\\"): out += #"\\"#.utf8
                case 0x0A: out += #"\n"#.utf8
                case 0x0D: out += #"\r"#.utf8
                case 0x09: out += #"\t"#.utf8
                case 0x08: out += #"\b"#.utf8
                case 0x0C: out += #"\f"#.utf8
                case 0..<0x20:
                    out += #"\u00"#.utf8
                    out.append(HexText.digits[Int(byte >> 4)])
                    out.append(HexText.digits[Int(byte & 0x0F)])
                default: out.append(byte)
                }
            }
            out.append(UInt8(ascii: "\""))
        }

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
