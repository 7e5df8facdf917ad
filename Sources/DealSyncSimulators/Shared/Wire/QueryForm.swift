/// Query strings and `application/x-www-form-urlencoded` bodies the way the PHP behind amoCRM and Bitrix24 reads
/// and writes them: `parse_str` on the way in, `http_build_query` on the way out.
///
/// Written from PHP's own rules, not shared with the connectors (which parse with `DealSyncCore.PHPForm`): a
/// simulator that encoded with the code the connectors decode with would hide any bug the two have in common.
///
/// - `parse_str`: pairs split on `&`, each at its first `=` (a name alone has the value `""`); `+` is a space and
///   `%XX` a byte (a `%` not followed by two hex digits stays as it is); in the name before the first `[`, spaces and
///   dots become `_`; `a[b][c]` nests; `a[]` appends after the highest integer key; an unclosed `[` becomes `_`;
///   text after the last `]` is dropped; a later value replaces an earlier one, a map replacing a string and the
///   reverse.
/// - `http_build_query`: `urlencode` on names and values — letters, digits and `-_.` as they are, a space as `+`,
///   every other byte as `%XX` in capitals (`~` too, and the brackets of names).
enum QueryForm {
    /// Names nested deeper than this are dropped (PHP's `max_input_nesting_level`).
    static let maxDepth = 64
    /// Pairs past this many are ignored (PHP's `max_input_vars`, as raised on the CRMs' servers).
    static let maxPairs = 20_000

    /// `parse_str`: never fails; what PHP would ignore is ignored.
    static func parse(_ text: String) -> Map {
        var root = Map()
        var count = 0
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            count += 1
            guard count <= maxPairs else { break }
            let equals = pair.firstIndex(of: "=")
            let rawName = equals.map { pair[..<$0] } ?? pair[...]
            let rawValue = equals.map { pair[pair.index(after: $0)...] } ?? ""
            guard let path = Self.path(decode(rawName)), path.count <= maxDepth + 1 else { continue }
            root.insert(decode(rawValue), at: path[...])
        }
        return root
    }

    /// `http_build_query` of pairs already named with brackets (`leads[add][0][id]`).
    static func build(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(urlencode($0.0))=\(urlencode($0.1))" }.joined(separator: "&")
    }

    /// PHP's `urlencode`.
    static func urlencode(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
                bytes.append(byte)
            case UInt8(ascii: " "):
                bytes.append(UInt8(ascii: "+"))
            default:
                bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// PHP's `urldecode`; bytes that are not UTF-8 become U+FFFD (PHP would keep them raw).
    static func decode<S: StringProtocol>(_ text: S) -> String {
        let utf8 = Array(text.utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var index = 0
        while index < utf8.count {
            let byte = utf8[index]
            if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), index + 2 < utf8.count,
                let high = hexDigit(utf8[index + 1]), let low = hexDigit(utf8[index + 2])
            {
                bytes.append(high << 4 | low)
                index += 2
            } else {
                bytes.append(byte)
            }
            index += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// A decoded name as PHP registers it: the base name, then one segment per `[...]` (`nil` for `[]`); `nil` when
    /// PHP would not register it at all (an empty base name).
    static func path(_ name: String) -> [String?]? {
        var characters = Substring(name.drop { $0 == " " })
        var base = ""
        var segments: [String?] = []
        while let character = characters.first, character != "[" {
            base.append(character == " " || character == "." ? "_" : character)
            characters.removeFirst()
        }
        if !characters.isEmpty {
            // The first `[` opens an index only when a `]` closes it; otherwise it is part of the name, as `_`.
            if !characters.contains("]") {
                base += "_" + characters.dropFirst()
                characters = ""
            }
        }
        guard !base.isEmpty else { return nil }
        while characters.first == "[", let close = characters.firstIndex(of: "]") {
            let inside = characters[characters.index(after: characters.startIndex)..<close]
            segments.append(inside.isEmpty ? nil : String(inside))
            characters = characters[characters.index(after: close)...]
        }
        return [base] + segments
    }
}
