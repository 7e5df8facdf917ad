import Foundation

/// Exact decimal text in the POSIX form (`1234.5`), independent of the process locale.
public enum DecimalText {
    /// Parses `"1000"`, `"1000.5"`, `"-0.25"`; rejects exponents, grouping and locale separators.
    ///
    /// Amounts of up to 19 significant digits (every amount a CRM sends) are read without Foundation's string
    /// parsing, straight into the `Decimal` that parsing would give (compacted, trailing fractional zeros gone):
    /// a batch reads thousands of them.
    public static func parse(_ text: String) -> Decimal? {
        if let decimal = quickParse(text.utf8) { return decimal }
        return foundationParse(text)
    }

    /// The slow path of ``parse(_:)``, for what the quick one does not take (spaces, more digits) and for tests.
    static func foundationParse(_ text: String) -> Decimal? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { return nil }
        var digits = trimmed.unicodeScalars.makeIterator()
        var sawDigit = false
        var sawDot = false
        var first = true
        while let c = digits.next() {
            defer { first = false }
            if c == "-" && first { continue }
            if c == "." && !sawDot { sawDot = true; continue }
            guard ("0"..."9").contains(c) else { return nil }
            sawDigit = true
        }
        guard sawDigit else { return nil }
        return Decimal(string: trimmed, locale: Locale(identifier: "en_US_POSIX")).map(normalized)
    }

    /// Removes trailing fractional zeros so equal amounts have equal representations.
    public static func normalized(_ value: Decimal) -> Decimal {
        let text = format(value)
        return quickParse(text.utf8) ?? Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) ?? value
    }

    /// Formats with at least `minimumFractionDigits` digits after the point and no exponent.
    public static func format(_ value: Decimal, minimumFractionDigits: Int = 0) -> String {
        var text = quickFormat(value) ?? foundationFormat(value)
        if minimumFractionDigits > 0 {
            let parts = text.split(separator: ".", maxSplits: 1)
            let fraction = parts.count > 1 ? String(parts[1]) : ""
            if fraction.count < minimumFractionDigits {
                text = String(parts[0]) + "." + fraction + String(repeating: "0", count: minimumFractionDigits - fraction.count)
            }
        }
        return text
    }

    /// Foundation's text of `value` (what ``quickFormat(_:)`` gives for the values it takes).
    static func foundationFormat(_ value: Decimal) -> String {
        let text = NSDecimalNumber(decimal: value).stringValue
        return text.contains("e") || text.contains("E") ? "\(value)" : text
    }

    /// `-?digits(.digits)?` of at most 19 significant digits, as a compact `Decimal`; `nil` for anything else.
    static func quickParse(_ bytes: String.UTF8View) -> Decimal? {
        var significand: UInt64 = 0
        var significant = 0
        var fraction = 0
        var negative = false
        var sawDigit = false
        var sawDot = false
        for (offset, byte) in bytes.enumerated() {
            switch byte {
            case UInt8(ascii: "-") where offset == 0:
                negative = true
            case UInt8(ascii: ".") where !sawDot:
                sawDot = true
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                sawDigit = true
                let digit = UInt64(byte - UInt8(ascii: "0"))
                if significand == 0 && digit == 0 {
                    if sawDot { fraction += 1 }
                    continue
                }
                significant += 1
                guard significant <= 19 else { return nil }
                significand = significand * 10 + digit
                if sawDot { fraction += 1 }
            default:
                return nil
            }
        }
        guard sawDigit, fraction <= 100 else { return nil }
        if significand == 0 { return Decimal() }
        var decimal = Decimal(sign: negative ? .minus : .plus, exponent: -fraction, significand: Decimal(significand))
        NSDecimalCompact(&decimal)
        return decimal
    }

    /// The text Foundation gives a `Decimal` whose significand fits 64 bits, written directly; `nil` for the rest
    /// (and for NaN, and on a Foundation whose `Decimal` is not laid out as ``mantissa(of:)`` expects).
    static func quickFormat(_ value: Decimal) -> String? {
        guard mantissaReadable, !value.isNaN, value.exponent <= 20, var significand = mantissa(of: value) else { return nil }
        var exponent = value.exponent
        // Trailing fractional zeros are not written.
        while exponent < 0 && significand % 10 == 0 && significand != 0 {
            significand /= 10
            exponent += 1
        }
        if significand == 0 { return "0" }
        var digits = Array(String(significand).utf8)
        if exponent > 0 { digits.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: exponent)) }
        if exponent < 0 {
            let point = digits.count + exponent
            if point <= 0 {
                digits = Array("0.".utf8) + repeatElement(UInt8(ascii: "0"), count: -point) + digits
            } else {
                digits.insert(UInt8(ascii: "."), at: point)
            }
        }
        if value.sign == .minus { digits.insert(UInt8(ascii: "-"), at: 0) }
        return String(decoding: digits, as: UTF8.self)
    }

    /// The significand of `value` when it fits 64 bits: Foundation keeps it as eight little-endian 16-bit words
    /// after a 4-byte header, and has no public accessor for it. ``mantissaReadable`` checks that layout once.
    static func mantissa(of value: Decimal) -> UInt64? {
        var value = value
        return withUnsafeBytes(of: &value) { raw -> UInt64? in
            guard raw.count == 20 else { return nil }
            var words: [UInt16] = []
            for index in 0..<8 { words.append(UInt16(raw[4 + 2 * index]) | UInt16(raw[5 + 2 * index]) << 8) }
            guard words[4...].allSatisfy({ $0 == 0 }) else { return nil }
            return words[..<4].reversed().reduce(0) { $0 << 16 | UInt64($1) }
        }
    }

    /// Whether ``mantissa(of:)`` reads this Foundation's `Decimal` right (checked on a few values built with
    /// public API); if not, formatting always takes Foundation's path.
    static let mantissaReadable: Bool = {
        let samples: [UInt64] = [1, 12_345, 0x1234_5678_9ABC_DEF1, UInt64.max]
        return samples.allSatisfy { sample in
            mantissa(of: Decimal(sign: .minus, exponent: -3, significand: Decimal(sample))) == sample
        }
    }()

    /// Rounds half away from zero to `scale` fractional digits (how a person rounds a price).
    public static func rounded(_ value: Decimal, scale: Int) -> Decimal {
        var value = value
        var result = Decimal()
        NSDecimalRound(&result, &value, scale, .plain)
        return normalized(result)
    }
}
