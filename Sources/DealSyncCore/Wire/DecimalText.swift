import Foundation

/// Exact decimal text in the POSIX form (`1234.5`), independent of the process locale.
public enum DecimalText {
    /// Parses `"1000"`, `"1000.5"`, `"-0.25"`; rejects exponents, grouping and locale separators.
    public static func parse(_ text: String) -> Decimal? {
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
        Decimal(string: format(value), locale: Locale(identifier: "en_US_POSIX")) ?? value
    }

    /// Formats with at least `minimumFractionDigits` digits after the point and no exponent.
    public static func format(_ value: Decimal, minimumFractionDigits: Int = 0) -> String {
        var text = NSDecimalNumber(decimal: value).stringValue
        if text.contains("e") || text.contains("E") { text = "\(value)" }
        if minimumFractionDigits > 0 {
            let parts = text.split(separator: ".", maxSplits: 1)
            let fraction = parts.count > 1 ? String(parts[1]) : ""
            if fraction.count < minimumFractionDigits {
                text = String(parts[0]) + "." + fraction + String(repeating: "0", count: minimumFractionDigits - fraction.count)
            }
        }
        return text
    }

    /// Rounds half away from zero to `scale` fractional digits (how a person rounds a price).
    public static func rounded(_ value: Decimal, scale: Int) -> Decimal {
        var value = value
        var result = Decimal()
        NSDecimalRound(&result, &value, scale, .plain)
        return normalized(result)
    }
}
