/// `application/x-www-form-urlencoded` bodies with PHP-style bracket keys (`leads[update][0][id]=42`), the
/// form amoCRM webhooks, Bitrix24 events and Bitrix24 REST parameters use.
///
/// Parsing is linear in the body: each pair is decoded once, each map finds a key among at most
/// ``Map/linearLimit`` in order or else through a dictionary, a nested map is updated in place (never copied to add
/// one key, nor boxed), and `key[]` appends at a kept index. A body of 20,000 appends or of 20,000 keys under one
/// map costs what 20,000 scalar pairs cost.
public enum PHPForm {
    /// A parsed form: nested maps in the order keys first appeared, with string leaves.
    public enum Value: Sendable, Equatable {
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
        /// Where each key is in `entries`, once there are more than ``linearLimit`` of them; a smaller map (nearly every
        /// map of a webhook) is searched in order, which costs less than hashing the key.
        private var positions: [String: Int] = [:]
        package static let linearLimit = 16
        /// The index `key[]` appends at: one past the largest array index so far, as PHP does.
        private(set) var nextIndex = 0

        public init() {}

        public subscript(key: String) -> Value? {
            get { position(of: key).map { entries[$0].value } }
            set {
                if let position = position(of: key) {
                    if let newValue { entries[position].value = newValue } else { remove(at: position) }
                } else if let newValue {
                    append(key, newValue)
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

        private mutating func append(_ key: String, _ value: Value) {
            entries.append((key, value))
            if entries.count > Self.linearLimit {
                if positions.isEmpty { indexPositions() } else { positions[key] = entries.count - 1 }
            }
            if let index = Int(key), index >= 0, index < Int.max { nextIndex = Swift.max(nextIndex, index + 1) }
        }

        private func position(of key: String) -> Int? {
            entries.count > Self.linearLimit ? positions[key] : entries.firstIndex { $0.key == key }
        }

        private mutating func indexPositions() {
            for (index, entry) in entries.enumerated() { positions[entry.key] = index }
        }

        private mutating func remove(at position: Int) {
            entries.remove(at: position)
            positions = [:]
            if entries.count > Self.linearLimit { indexPositions() }
        }

        /// Runs `body` on the map under `key` (a new one, or one replacing a scalar, as PHP does) without
        /// copying it: the entry is emptied while `body` runs, so the child's storage is not shared.
        mutating func updateChild(_ key: String, _ body: (inout Map) throws(ParseError) -> Void) throws(ParseError) {
            guard let position = position(of: key) else {
                var child = Map()
                try body(&child)
                append(key, .map(child))
                return
            }
            var child = entries[position].value.map ?? Map()
            entries[position].value = .string("")
            defer { entries[position].value = .map(child) }
            try body(&child)
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
        try parse(bytes: Array(body.utf8))
    }

    /// Parses a form body as received: raw bytes that are not UTF-8 are refused like a `%FF` escape is.
    ///
    /// A key is decoded into one buffer kept for the whole body and split there; only its segments become
    /// strings (short ones, held inline), so a pair costs its value's string and no more.
    public static func parse(bytes body: [UInt8]) throws(ParseError) -> Map {
        var root = Map()
        var pairCount = 0
        var failure: ParseError?
        var key: [UInt8] = []
        var path: [String] = []
        Pairs.forEach(in: body) { rawKey, rawValue in
            pairCount += 1
            guard pairCount <= maxPairs else {
                failure = ParseError(description: "more than \(maxPairs) fields")
                return false
            }
            guard percentDecode(rawKey, into: &key), let value = percentDecode(rawValue) else {
                failure = ParseError(description: "field \(pairCount) is not valid percent-encoded UTF-8")
                return false
            }
            guard !key.isEmpty else { return true }
            do throws(ParseError) {
                try splitKey(key[...], into: &path)
                try insert(value, at: path[...], into: &root)
            } catch {
                failure = error
                return false
            }
            return true
        }
        if let failure { throw failure }
        return root
    }

    /// Splits `a[b][0]` into `["a", "b", "0"]`; `a[]` gives an empty segment (append). A key nested deeper than
    /// ``maxDepth`` is refused as soon as its segment past the limit is seen.
    static func splitKey(_ key: String) throws(ParseError) -> [String] {
        var path: [String] = []
        try splitKey(Array(key.utf8)[...], into: &path)
        return path
    }

    /// ``splitKey(_:)`` of a decoded key's bytes (valid UTF-8), into `path` (emptied first). Brackets are ASCII,
    /// so every segment cut at them is valid UTF-8 too.
    static func splitKey(_ key: ArraySlice<UInt8>, into path: inout [String]) throws(ParseError) {
        path.removeAll(keepingCapacity: true)
        guard let open = key.firstIndex(of: UInt8(ascii: "[")) else {
            path.append(String(decoding: key, as: UTF8.self))
            return
        }
        path.append(String(decoding: key[..<open], as: UTF8.self))
        var next = open
        while next < key.endIndex, key[next] == UInt8(ascii: "[") {
            let inner = next + 1
            guard let close = key[inner...].firstIndex(of: UInt8(ascii: "]")) else {
                // PHP treats an unclosed bracket as part of the name.
                path.removeAll(keepingCapacity: true)
                path.append(String(decoding: key, as: UTF8.self))
                return
            }
            guard path.count < maxDepth else { throw ParseError(description: "field nesting deeper than \(maxDepth)") }
            path.append(String(decoding: key[inner..<close], as: UTF8.self))
            next = close + 1
        }
    }

    static func insert(_ value: String, at path: ArraySlice<String>, into map: inout Map) throws(ParseError) {
        guard var key = path.first else { return }
        if key.isEmpty { key = String(map.nextIndex) }
        if path.count == 1 {
            map[key] = .string(value)
            return
        }
        try map.updateChild(key) { (child: inout Map) throws(ParseError) in
            try insert(value, at: path.dropFirst(), into: &child)
        }
    }

    /// Decodes `%XX` escapes and `+` as space; `nil` on malformed escapes or bytes that are not UTF-8.
    public static func percentDecode<S: StringProtocol>(_ text: S) -> String? {
        percentDecode(Array(text.utf8)[...])
    }

    static func percentDecode(_ text: ArraySlice<UInt8>) -> String? {
        if !text.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) {
            return String(validating: text, as: UTF8.self)
        }
        var bytes: [UInt8] = []
        guard percentDecode(text, into: &bytes) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Decodes `text` as ``percentDecode(_:)-(ArraySlice<UInt8>)`` does, into `bytes` (emptied first, its storage
    /// kept); `false` where that gives `nil`. What it leaves in `bytes` on success is valid UTF-8.
    static func percentDecode(_ text: ArraySlice<UInt8>, into bytes: inout [UInt8]) -> Bool {
        bytes.removeAll(keepingCapacity: true)
        bytes.reserveCapacity(text.count)
        // The raw bytes must be UTF-8 themselves, not only once decoded: a raw lead byte completed by escaped
        // continuation bytes (`\xF0%9F%98%80`) decodes to valid UTF-8, but the body stored is not, and reads back
        // as something else.
        var raw: UInt8 = 0
        var decoded: UInt8 = 0
        var index = text.startIndex
        while index < text.endIndex {
            let byte = text[index]
            raw |= byte
            index += 1
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard index + 1 < text.endIndex, let hi = hexValue(text[index]), let lo = hexValue(text[index + 1]) else {
                    return false
                }
                index += 2
                let value = hi << 4 | lo
                decoded |= value
                bytes.append(value)
            default:
                decoded |= byte
                bytes.append(byte)
            }
        }
        // ASCII throughout (nearly every key) is valid as it is; anything else is checked.
        if raw >= 0x80, !isUTF8(text) { return false }
        return decoded < 0x80 || isUTF8(bytes[...])
    }

    private static func isUTF8(_ bytes: ArraySlice<UInt8>) -> Bool {
        String(validating: bytes, as: UTF8.self) != nil
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension PHPForm.Map {
    /// Builds a map from flat bracket-key pairs, as if they had been parsed.
    public init(pairs: [(String, String)]) {
        self.init()
        for (key, value) in pairs {
            guard let path = try? PHPForm.splitKey(key) else { continue }
            try? PHPForm.insert(value, at: path[...], into: &self)
        }
    }
}
