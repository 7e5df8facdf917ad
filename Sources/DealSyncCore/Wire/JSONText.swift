import Foundation

/// JSON text read and written without Foundation's coders.
///
/// The pipeline reads and writes thousands of small documents per batch (field state, connector payloads), and
/// `JSONDecoder`'s generic containers cost more than deciding them. The results are the coders' own: a number
/// keeps ``JSONValue``'s normalised text, object keys are written in the order `JSONEncoder`'s `.sortedKeys`
/// writes them, `/` is not escaped, and what the coders refuse (bad escapes, lone surrogates, invalid UTF-8,
/// control characters in strings, trailing text) is refused, and what they allow (a trailing comma, a byte order
/// mark) is allowed. Nesting deeper than ``maximumDepth`` is refused too,
/// so hostile input cannot exhaust the stack.
public enum JSONText {
    public static let maximumDepth = 512

    /// Parses a whole document (a bare scalar is one too); `nil` when it is not JSON.
    public static func parse(_ data: Data) -> JSONValue? {
        data.withUnsafeBytes { raw in
            var parser = Parser(bytes: raw.bindMemory(to: UInt8.self))
            return parser.document()
        }
    }

    public static func parse(_ text: String) -> JSONValue? {
        var text = text
        return text.withUTF8 { bytes in
            var parser = Parser(bytes: bytes)
            return parser.document()
        }
    }

    /// The document's text: keys sorted, no insignificant space; `/` escaped as `\/` only when asked (what
    /// `JSONEncoder` does without `.withoutEscapingSlashes`).
    public static func text(_ value: JSONValue, escapingSlashes: Bool = false) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        write(value, into: &out, escapingSlashes: escapingSlashes)
        return String(decoding: out, as: UTF8.self)
    }

    public static func data(_ value: JSONValue) -> Data {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        write(value, into: &out)
        return Data(out)
    }

    public static func write(_ value: JSONValue, into out: inout [UInt8], escapingSlashes: Bool = false) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let flag): out.append(contentsOf: (flag ? "true" : "false").utf8)
        case .number(let text): out.append(contentsOf: canonicalNumber(text).utf8)
        case .string(let text): writeString(text, into: &out, escapingSlashes: escapingSlashes)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                write(item, into: &out, escapingSlashes: escapingSlashes)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (index, key) in members.keys.sorted(by: keyOrder).enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                writeString(key, into: &out, escapingSlashes: escapingSlashes)
                out.append(UInt8(ascii: ":"))
                write(members[key]!, into: &out, escapingSlashes: escapingSlashes)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// The order `JSONEncoder`'s `.sortedKeys` writes keys in: by their UTF-8 bytes.
    static func keyOrder(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    static func writeString(_ text: String, into out: inout [UInt8], escapingSlashes: Bool = false) {
        out.append(UInt8(ascii: "\""))
        // Most strings need no escape: copied whole.
        var contiguous = text
        let copied = contiguous.withUTF8 { bytes -> Bool in
            for byte in bytes
            where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || (escapingSlashes && byte == UInt8(ascii: "/"))
            {
                return false
            }
            out.append(contentsOf: bytes)
            return true
        }
        if copied {
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "/") where escapingSlashes: out.append(contentsOf: #"\/"#.utf8)
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case 0x08: out.append(contentsOf: #"\b"#.utf8)
            case 0x0C: out.append(contentsOf: #"\f"#.utf8)
            case 0x0A: out.append(contentsOf: #"\n"#.utf8)
            case 0x0D: out.append(contentsOf: #"\r"#.utf8)
            case 0x09: out.append(contentsOf: #"\t"#.utf8)
            case 0x00..<0x20:
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// A number's text as ``JSONValue`` keeps it: a plain integer as it is, anything else through `Decimal`.
    static func canonicalNumber(_ text: String) -> String {
        if isPlainInteger(text.utf8) { return text }
        guard let decimal = DecimalText.quickParse(text.utf8) ?? Decimal(string: text, locale: posix) else { return "0" }
        return DecimalText.format(decimal)
    }

    /// `-?(0|[1-9][0-9]*)` of at most 18 digits, not `-0`: its text is already what `Decimal` would give.
    static func isPlainInteger(_ bytes: some Collection<UInt8>) -> Bool {
        var digits = 0
        var first = true
        var leadingZero = false
        for byte in bytes {
            if first && byte == UInt8(ascii: "-") {
                first = false
                continue
            }
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return false }
            if digits == 0 && byte == UInt8(ascii: "0") { leadingZero = true }
            digits += 1
            first = false
        }
        if leadingZero { return digits == 1 && bytes.first != UInt8(ascii: "-") }
        return digits > 0 && digits <= 18
    }

    static let posix = Locale(identifier: "en_US_POSIX")

    struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0
        var depth = 0

        init(bytes: UnsafeBufferPointer<UInt8>) {
            self.bytes = bytes
        }

        mutating func document() -> JSONValue? {
            // A byte order mark, as the coders allow.
            if bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { index = 3 }
            skipSpace()
            guard let value = value() else { return nil }
            skipSpace()
            return index == bytes.count ? value : nil
        }

        private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        private mutating func skipSpace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        private mutating func value() -> JSONValue? {
            guard let byte = peek else { return nil }
            switch byte {
            case UInt8(ascii: "{"): return object()
            case UInt8(ascii: "["): return array()
            case UInt8(ascii: "\""): return string().map(JSONValue.string)
            case UInt8(ascii: "t"): return literal("true", .bool(true))
            case UInt8(ascii: "f"): return literal("false", .bool(false))
            case UInt8(ascii: "n"): return literal("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return number()
            default: return nil
            }
        }

        private mutating func literal(_ word: StaticString, _ value: JSONValue) -> JSONValue? {
            let count = word.utf8CodeUnitCount
            guard index + count <= bytes.count else { return nil }
            for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { return nil }
            index += count
            return value
        }

        /// An object from its opening brace, read by ``readObject(_:_:)`` (the one place the grammar of members is).
        private mutating func object() -> JSONValue? {
            var members: [String: JSONValue] = [:]
            do throws(JSONShapeError) {
                try readObject("object") { (parser, key) throws(JSONShapeError) in members[key] = try parser.readValue() }
            } catch {
                return nil
            }
            return .object(members)
        }

        /// An array from its opening bracket, read by ``readList(_:)``.
        private mutating func array() -> JSONValue? {
            do throws(JSONShapeError) {
                return .array(try readList { (parser) throws(JSONShapeError) in try parser.readValue() })
            } catch {
                return nil
            }
        }

        /// A string token from its opening quote; `nil` for a bad escape, a control character or invalid UTF-8.
        private mutating func string() -> String? {
            index += 1
            let start = index
            var ascii = true
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let token = UnsafeBufferPointer(rebasing: bytes[start..<index])
                    // ASCII is valid UTF-8 as it is (most keys and values): only the rest is validated.
                    let text = ascii ? String(decoding: token, as: UTF8.self) : String(validating: token, as: UTF8.self)
                    index += 1
                    return text
                }
                if byte == UInt8(ascii: "\\") { break }
                if byte < 0x20 { return nil }
                if byte >= 0x80 { ascii = false }
                index += 1
            }
            var buffer = Array(bytes[start..<index])
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    return String(validating: buffer, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    index += 1
                    guard let escaped = peek else { return nil }
                    index += 1
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): buffer.append(escaped)
                    case UInt8(ascii: "b"): buffer.append(0x08)
                    case UInt8(ascii: "f"): buffer.append(0x0C)
                    case UInt8(ascii: "n"): buffer.append(0x0A)
                    case UInt8(ascii: "r"): buffer.append(0x0D)
                    case UInt8(ascii: "t"): buffer.append(0x09)
                    case UInt8(ascii: "u"):
                        guard let scalar = unicodeEscape() else { return nil }
                        buffer.append(contentsOf: UTF8.encode(scalar)!)
                    default: return nil
                    }
                default:
                    if byte < 0x20 { return nil }
                    buffer.append(byte)
                    index += 1
                }
            }
            return nil
        }

        private mutating func hex4() -> UInt32? {
            guard index + 4 <= bytes.count else { return nil }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: return nil
                }
                value = value << 4 | UInt32(digit)
                index += 1
            }
            return value
        }

        /// The scalar of a `\u` escape (the `\u` read), joining a surrogate pair; `nil` for a lone surrogate.
        private mutating func unicodeEscape() -> Unicode.Scalar? {
            guard let high = hex4() else { return nil }
            switch high {
            case 0xD800...0xDBFF:
                guard index + 2 <= bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                    return nil
                }
                index += 2
                guard let low = hex4(), (0xDC00...0xDFFF).contains(low) else { return nil }
                return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
            case 0xDC00...0xDFFF:
                return nil
            default:
                return Unicode.Scalar(high)
            }
        }

        private mutating func digits() -> Int {
            let start = index
            while let byte = peek, byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") { index += 1 }
            return index - start
        }

        private mutating func number() -> JSONValue? {
            let start = index
            if peek == UInt8(ascii: "-") { index += 1 }
            if peek == UInt8(ascii: "0") {
                index += 1
            } else if digits() == 0 {
                return nil
            }
            if peek == UInt8(ascii: ".") {
                index += 1
                guard digits() > 0 else { return nil }
            }
            if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
                index += 1
                if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
                guard digits() > 0 else { return nil }
            }
            let token = UnsafeBufferPointer(rebasing: bytes[start..<index])
            let text = String(decoding: token, as: UTF8.self)
            if JSONText.isPlainInteger(token) { return .number(text) }
            guard let decimal = DecimalText.quickParse(text.utf8) ?? Decimal(string: text, locale: JSONText.posix) else { return nil }
            return .number(DecimalText.format(decimal))
        }
    }
}

// MARK: Reading and writing a known shape directly

extension JSONText {
    /// Writes `"key":`, after a comma unless it is the object's first member (`key` needs no escaping).
    static func writeKey(_ key: StaticString, into out: inout [UInt8], first: Bool = false) {
        if !first { out.append(UInt8(ascii: ",")) }
        out.append(UInt8(ascii: "\""))
        out.append(contentsOf: UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
        out.append(UInt8(ascii: "\""))
        out.append(UInt8(ascii: ":"))
    }

    /// An integer as ``JSONValue/number(_:)`` of its text is written: its digits, which for an integer of at most 18
    /// of them is what ``canonicalNumber(_:)`` keeps; a longer one goes through it.
    static func writeInteger(_ number: Int64, into out: inout [UInt8]) {
        guard number > -1_000_000_000_000_000_000, number < 1_000_000_000_000_000_000 else {
            out.append(contentsOf: canonicalNumber(String(number)).utf8)
            return
        }
        if number < 0 { out.append(UInt8(ascii: "-")) }
        // Room for the digits first, then filled from the last.
        var magnitude = number.magnitude
        var digits = 1
        while magnitude / Self.powersOfTen[digits] > 0 { digits += 1 }
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: digits))
        var at = out.count - 1
        repeat {
            out[at] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
            at -= 1
        } while magnitude > 0
    }

    /// 10⁰ … 10¹⁸: a magnitude below 10¹⁸ has `digits` digits when it is below 10^digits.
    private static let powersOfTen: [UInt64] = (0...18).map { (0..<$0).reduce(1) { power, _ in power * 10 } }

    static func writeList<T>(_ items: [T], into out: inout [UInt8], _ write: (T, inout [UInt8]) -> Void) {
        out.append(UInt8(ascii: "["))
        for (index, item) in items.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            write(item, &out)
        }
        out.append(UInt8(ascii: "]"))
    }
}

/// A reader of a document whose shape it knows (``FieldState``'s), member by member, without building the tree;
/// the tree's own `object()` and `array()` read through it, so both refuse and allow the same.
extension JSONText.Parser {
    static let notJSON = JSONShapeError("not JSON")

    /// The whole document, read by `read`: a byte order mark and space around it allowed, nothing after it.
    mutating func document<T>(_ read: (inout Self) throws(JSONShapeError) -> T) throws(JSONShapeError) -> T {
        if bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { index = 3 }
        skipSpace()
        let value = try read(&self)
        skipSpace()
        guard index == bytes.count else { throw Self.notJSON }
        return value
    }

    mutating func nextIsObject() -> Bool {
        skipSpace()
        return peek == UInt8(ascii: "{")
    }

    /// Reads an object: `member` gets each key with the parser at its value, and must read the value.
    mutating func readObject(_ what: String, _ member: (inout Self, String) throws(JSONShapeError) -> Void) throws(JSONShapeError) {
        skipSpace()
        guard peek == UInt8(ascii: "{") else {
            _ = try readValue()
            throw JSONShapeError("\(what): not an object")
        }
        depth += 1
        defer { depth -= 1 }
        guard depth <= JSONText.maximumDepth else { throw Self.notJSON }
        index += 1
        skipSpace()
        if peek == UInt8(ascii: "}") {
            index += 1
            return
        }
        var count = 0
        while true {
            skipSpace()
            // A trailing comma, as the coders allow.
            if peek == UInt8(ascii: "}") && count > 0 {
                index += 1
                return
            }
            guard peek == UInt8(ascii: "\""), let key = string() else { throw Self.notJSON }
            skipSpace()
            guard peek == UInt8(ascii: ":") else { throw Self.notJSON }
            index += 1
            skipSpace()
            try member(&self, key)
            count += 1
            skipSpace()
            switch peek {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return
            default: throw Self.notJSON
            }
        }
    }

    /// A list that may be absent (`null`: empty), read item by item.
    mutating func readList<T>(_ item: (inout Self) throws(JSONShapeError) -> T) throws(JSONShapeError) -> [T] {
        skipSpace()
        if readNull() { return [] }
        guard peek == UInt8(ascii: "[") else {
            _ = try readValue()
            throw JSONShapeError("not a list")
        }
        depth += 1
        defer { depth -= 1 }
        guard depth <= JSONText.maximumDepth else { throw Self.notJSON }
        index += 1
        var items: [T] = []
        skipSpace()
        if peek == UInt8(ascii: "]") {
            index += 1
            return items
        }
        while true {
            skipSpace()
            if peek == UInt8(ascii: "]") && !items.isEmpty {
                index += 1
                return items
            }
            items.append(try item(&self))
            skipSpace()
            switch peek {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return items
            default: throw Self.notJSON
            }
        }
    }

    /// A member that may be `null` (the coders' `decodeIfPresent`).
    mutating func readOptional<T>(_ read: (inout Self) throws(JSONShapeError) -> T) throws(JSONShapeError) -> T? {
        readNull() ? nil : try read(&self)
    }

    /// Reads `null` if it is next.
    mutating func readNull() -> Bool {
        skipSpace()
        guard peek == UInt8(ascii: "n") else { return false }
        return literal("null", .null) != nil
    }

    mutating func readValue() throws(JSONShapeError) -> JSONValue {
        skipSpace()
        guard let value = value() else { throw Self.notJSON }
        return value
    }

    mutating func skipValue() throws(JSONShapeError) { _ = try readValue() }

    mutating func readString(_ what: String) throws(JSONShapeError) -> String {
        guard case .string(let text) = try readValue() else { throw JSONShapeError("\(what): not a string") }
        return text
    }

    mutating func readInt64(_ what: String) throws(JSONShapeError) -> Int64 {
        if let number = plainInteger() { return number }
        guard case .number(let text) = try readValue(), let number = Int64(text) else { throw JSONShapeError("\(what): not an integer") }
        return number
    }

    /// An integer written plainly (``JSONText/isPlainInteger(_:)``, not followed by a fraction or an exponent), read
    /// from its digits without making its text; `nil`, having read nothing, for any other token.
    private mutating func plainInteger() -> Int64? {
        skipSpace()
        let start = index
        let negative = peek == UInt8(ascii: "-")
        if negative { index += 1 }
        let first = index
        guard digits() > 0, peek != UInt8(ascii: "."), peek != UInt8(ascii: "e"), peek != UInt8(ascii: "E"),
            JSONText.isPlainInteger(UnsafeBufferPointer(rebasing: bytes[start..<index]))
        else {
            index = start
            return nil
        }
        var magnitude: Int64 = 0
        for byte in bytes[first..<index] { magnitude = magnitude * 10 + Int64(byte - UInt8(ascii: "0")) }
        return negative ? -magnitude : magnitude
    }

    mutating func readBool(_ what: String) throws(JSONShapeError) -> Bool {
        guard case .bool(let flag) = try readValue() else { throw JSONShapeError("\(what): not a boolean") }
        return flag
    }
}
