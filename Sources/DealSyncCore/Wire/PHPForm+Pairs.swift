extension PHPForm {
    /// The `key=value` pairs of a raw form body, undecoded, in order.
    enum Pairs {
        /// Calls `body` with each non-empty pair's raw key and raw value (empty when there is no `=`) until it
        /// returns `false`. One pass over the bytes.
        static func forEach(in bytes: [UInt8], _ body: (ArraySlice<UInt8>, ArraySlice<UInt8>) -> Bool) {
            var start = bytes.startIndex
            while start < bytes.endIndex {
                let end = bytes[start...].firstIndex(of: UInt8(ascii: "&")) ?? bytes.endIndex
                if end > start {
                    let pair = bytes[start..<end]
                    let equals = pair.firstIndex(of: UInt8(ascii: "=")) ?? end
                    let value = equals < end ? bytes[(equals + 1)..<end] : bytes[end..<end]
                    guard body(bytes[start..<equals], value) else { return }
                }
                start = end + 1
            }
        }
    }

    /// The value of the pair whose key decodes to exactly `key` (the last one, as parsing keeps the last),
    /// without parsing the form: a pair whose raw key is too long to be `key` is not even decoded, so the scan
    /// costs one pass over the bytes whatever the body holds. `nil` when absent or not valid UTF-8.
    ///
    /// Use it to authenticate a body before parsing it; the parsed form must still agree.
    public static func scanValue(of key: String, in bytes: [UInt8]) -> String? {
        let wanted = Array(key.utf8)
        let longest = wanted.count * 3  // every byte percent-encoded
        var found: ArraySlice<UInt8>?
        var pairs = 0
        Pairs.forEach(in: bytes) { rawKey, rawValue in
            pairs += 1
            guard pairs <= maxPairs else { return false }
            guard rawKey.count >= wanted.count, rawKey.count <= longest else { return true }
            if rawKey.elementsEqual(wanted) || percentDecode(rawKey).map({ Array($0.utf8) == wanted }) == true {
                found = rawValue
            }
            return true
        }
        return found.flatMap(percentDecode)
    }

    /// The body with the values of every pair whose key parses to one of `paths` emptied (`auth[application_token]=`),
    /// every other byte as it was. For credentials a payload carries that must not be stored.
    public static func blankingValues(at paths: Set<[String]>, in bytes: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var start = bytes.startIndex
        while start <= bytes.endIndex {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "&")) ?? bytes.endIndex
            let pair = bytes[start..<end]
            let equals = pair.firstIndex(of: UInt8(ascii: "=")) ?? end
            let path = percentDecode(bytes[start..<equals]).flatMap { try? splitKey($0) }
            if let path, paths.contains(path) {
                output += bytes[start..<equals]
                if equals < end { output.append(UInt8(ascii: "=")) }
            } else {
                output += pair
            }
            if end < bytes.endIndex { output.append(UInt8(ascii: "&")) }
            start = end + 1
        }
        return output
    }
}
