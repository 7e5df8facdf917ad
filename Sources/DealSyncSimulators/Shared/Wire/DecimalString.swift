import Foundation

/// Decimal amounts as text, the way the simulated services read and write them (`"15000.00"`, `"0.5"`), without the
/// connectors' `DealSyncCore.DecimalText`: a bug both sides shared would never show in an end-to-end test.
enum DecimalString {
    /// Plain decimal notation only: an optional `-`, digits, at most one `.` with digits on at least one side. No
    /// exponent, no grouping, no `+`, no spaces inside.
    static func parse(_ text: String) -> Decimal? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var body = Substring(trimmed)
        let negative = body.first == "-"
        if negative { body = body.dropFirst() }
        let parts = body.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = parts[0]
        let fraction = parts.count > 1 ? parts[1] : ""
        guard !(whole.isEmpty && fraction.isEmpty), (whole + fraction).allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        var value = Decimal(0)
        for digit in whole + fraction { value = value * 10 + Decimal(Int(digit.asciiValue! - UInt8(ascii: "0"))) }
        if !fraction.isEmpty {
            var divisor = Decimal(1)
            for _ in fraction { divisor *= 10 }
            value /= divisor
        }
        return negative ? -value : value
    }

    /// `1234.5` → `"1234.5"`, or `"1234.50"` with two fraction digits at least; never an exponent.
    static func format(_ value: Decimal, minimumFractionDigits: Int = 0) -> String {
        var text = plain(value)
        if minimumFractionDigits > 0 {
            let fraction = text.split(separator: ".", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
            if fraction.isEmpty { text += "." }
            text += String(repeating: "0", count: max(0, minimumFractionDigits - fraction.count))
        }
        return text
    }

    /// Rounded half away from zero to `scale` fraction digits.
    static func rounded(_ value: Decimal, scale: Int) -> Decimal {
        var input = value
        var output = Decimal()
        NSDecimalRound(&output, &input, scale, .plain)
        return output
    }

    /// Digits, a `.` only before a non-zero fraction, trailing fraction zeros dropped.
    private static func plain(_ value: Decimal) -> String {
        if value.isZero { return "0" }
        let negative = value < 0
        // Decimal is significand × 10^exponent; write the significand's digits and place the point by hand.
        var digits = (negative ? -value : value).significand.description.filter(\.isNumber)
        var exponent = Int(value.exponent)
        while exponent < 0, digits.count > 1, digits.last == "0" {
            digits.removeLast()
            exponent += 1
        }
        var text: String
        if exponent >= 0 {
            text = digits + String(repeating: "0", count: exponent)
        } else {
            let point = digits.count + exponent
            if point > 0 {
                text = String(digits.prefix(point)) + "." + String(digits.dropFirst(point))
            } else {
                text = "0." + String(repeating: "0", count: -point) + digits
            }
        }
        if text.contains(".") {
            while text.last == "0" { text.removeLast() }
            if text.last == "." { text.removeLast() }
        }
        return negative ? "-" + text : text
    }
}
