/// Lowercase hexadecimal as the simulated services write it (tokens, request ids, signatures, `\u00XX` escapes),
/// without the connectors' `DealSyncCore.Hex`: a bug both sides shared would never show in an end-to-end test.
enum HexText {
    static let digits = Array("0123456789abcdef".utf8)

    /// Two digits per byte.
    static func lower<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// `count` random digits.
    static func random(digits count: Int, using generator: inout some RandomNumberGenerator) -> String {
        String(decoding: (0..<count).map { _ in digits[Int(generator.next() % 16)] }, as: UTF8.self)
    }
}
