extension PHPForm {
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
