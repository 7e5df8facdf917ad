/// `application/x-www-form-urlencoded` bodies with PHP-style bracket keys (`leads[update][0][id]=42`), the
/// form amoCRM webhooks, Bitrix24 events and Bitrix24 REST parameters use.
public enum PHPForm {
    /// A parsed form: nested maps in the order keys first appeared, with string leaves.
    public indirect enum Value: Sendable, Equatable {
        case string(String)
        case map(Map)

        public var string: String? {
            if case .string(let s) = self { return s }
            return nil
        }

        public var map: Map? {
            if case .map(let m) = self { return m }
            return nil
        }

        /// `value["leads"]?["update"]`
        public subscript(key: String) -> Value? { map?[key] }
    }

    /// Keys in first-seen order.
    public struct Map: Sendable, Equatable {
        public private(set) var entries: [(key: String, value: Value)] = []

        public init() {}

        public subscript(key: String) -> Value? {
            get { entries.first { $0.key == key }?.value }
            set {
                if let index = entries.firstIndex(where: { $0.key == key }) {
                    if let newValue { entries[index].value = newValue } else { entries.remove(at: index) }
                } else if let newValue {
                    entries.append((key, newValue))
                }
            }
        }

        public var keys: [String] { entries.map(\.key) }
        public var isEmpty: Bool { entries.isEmpty }

        public static func == (lhs: Map, rhs: Map) -> Bool {
            lhs.entries.count == rhs.entries.count
                && zip(lhs.entries, rhs.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        }

        /// Children whose keys are array indices, in numeric order (`leads[update][0]`, `[1]`, ...).
        public var indexed: [Value] {
            entries.compactMap { entry in Int(entry.key).map { ($0, entry.value) } }
                .sorted { $0.0 < $1.0 }
                .map(\.1)
        }
    }

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Limits that keep a hostile body from costing more than a legitimate one.
    public static let maxPairs = 20_000
    public static let maxDepth = 10

    /// Parses a form body. Repeated leaves keep the last value; `key[]` appends.
    public static func parse(_ body: String) throws(ParseError) -> Map {
        var root = Map()
        var pairCount = 0
        for pair in body.split(separator: "&", omittingEmptySubsequences: true) {
            pairCount += 1
            guard pairCount <= maxPairs else { throw ParseError(description: "more than \(maxPairs) fields") }
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let rawKey = parts.first, !rawKey.isEmpty else { continue }
            guard let key = percentDecode(rawKey), let value = percentDecode(parts.count > 1 ? parts[1] : "") else {
                throw ParseError(description: "invalid percent-encoding in field \(pairCount)")
            }
            let path = try splitKey(key)
            guard path.count <= maxDepth else { throw ParseError(description: "field nesting deeper than \(maxDepth)") }
            try insert(value, at: path[...], into: &root)
        }
        return root
    }

    /// Splits `a[b][0]` into `["a", "b", "0"]`; `a[]` gives an empty segment (append).
    static func splitKey(_ key: String) throws(ParseError) -> [String] {
        guard let open = key.firstIndex(of: "[") else { return [key] }
        var path = [String(key[..<open])]
        var rest = key[open...]
        while let first = rest.first, first == "[" {
            guard let close = rest.firstIndex(of: "]") else {
                // PHP treats an unclosed bracket as part of the name.
                return [key]
            }
            path.append(String(rest[rest.index(after: rest.startIndex)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return path
    }

    private static func insert(_ value: String, at path: ArraySlice<String>, into map: inout Map) throws(ParseError) {
        guard var key = path.first else { return }
        if key.isEmpty { key = String(map.indexed.count) }
        if path.count == 1 {
            map[key] = .string(value)
            return
        }
        var child: Map
        switch map[key] {
        case .map(let existing)?: child = existing
        case .string?: child = Map()  // a scalar replaced by a nested key, as PHP does
        case nil: child = Map()
        }
        try insert(value, at: path.dropFirst(), into: &child)
        map[key] = .map(child)
    }

    /// Decodes `%XX` escapes and `+` as space; `nil` on malformed escapes or bytes that are not UTF-8.
    public static func percentDecode<S: StringProtocol>(_ text: S) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let hi = iterator.next().flatMap(hexValue), let lo = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                bytes.append(hi << 4 | lo)
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    // MARK: Encoding

    /// Encodes flat bracket-key pairs the way PHP's `http_build_query` does (brackets escaped).
    public static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(percentEncode($0.0))=\(percentEncode($0.1))" }.joined(separator: "&")
    }

    /// Flattens a nested map into bracket-key pairs: `["a": ["b": "1"]]` → `[("a[b]", "1")]`.
    public static func flatten(_ map: Map, prefix: String? = nil) -> [(String, String)] {
        var result: [(String, String)] = []
        for (key, value) in map.entries {
            let name = prefix.map { "\($0)[\(key)]" } ?? key
            switch value {
            case .string(let s): result.append((name, s))
            case .map(let m): result += flatten(m, prefix: name)
            }
        }
        return result
    }

    public static func percentEncode(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: " "):
                result.append("+")
            default:
                let hex = Array("0123456789ABCDEF")
                result.append("%")
                result.append(hex[Int(byte >> 4)])
                result.append(hex[Int(byte & 0x0F)])
            }
        }
        return result
    }
}

extension PHPForm.Map {
    /// Builds a map from flat bracket-key pairs, as if they had been parsed.
    public init(pairs: [(String, String)]) {
        self.init()
        for (key, value) in pairs {
            guard let path = try? PHPForm.splitKey(key) else { continue }
            try? PHPForm.insertPublic(value, at: path, into: &self)
        }
    }
}

extension PHPForm {
    static func insertPublic(_ value: String, at path: [String], into map: inout Map) throws(ParseError) {
        try insert(value, at: path[...], into: &map)
    }
}
