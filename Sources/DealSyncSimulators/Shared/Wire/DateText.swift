import Foundation

/// Dates and times as the simulated services write and read them, without the connectors' `DealSyncCore.Timestamp`
/// (a shared bug would pass every end-to-end test unseen).
///
/// - Writing: PHP's `date('c')` (`2024-08-30T14:29:00+02:00`, `+00:00` for UTC, never `Z`) for amoCRM and Bitrix24,
///   and MasterDeal's UTC with milliseconds (`2026-11-23T10:00:00.123Z`).
/// - Reading: ISO-8601 / RFC 3339 — `YYYY-MM-DD`, then `T` or a space and `HH:MM[:SS[.fraction]]`, then `Z`, `±HH:MM`,
///   `±HHMM` or `±HH`. Without an offset the caller's zone applies, if it gives one.
enum DateText {
    // MARK: Writing

    /// `date('c')`: whole seconds in the given UTC offset.
    static func php(seconds: Int64, offsetSeconds: Int) -> String {
        let (date, time) = civil(seconds + Int64(offsetSeconds))
        let sign = offsetSeconds < 0 ? "-" : "+"
        let offset = abs(offsetSeconds)
        return "\(date)T\(time)\(sign)\(two(offset / 3600)):\(two(offset % 3600 / 60))"
    }

    /// MasterDeal's form: UTC, milliseconds always written, `Z`.
    static func utcMillis(_ millis: Int64) -> String {
        let seconds = floorDivide(millis, 1000)
        let fraction = Int(millis - seconds * 1000)
        let (date, time) = civil(seconds)
        return "\(date)T\(time).\(String(repeating: "0", count: fraction < 10 ? 2 : fraction < 100 ? 1 : 0))\(fraction)Z"
    }

    /// `YYYY-MM-DD` and `HH:MM:SS` of an instant already shifted into local time.
    private static func civil(_ local: Int64) -> (String, String) {
        let days = floorDivide(local, 86_400)
        let secondOfDay = Int(local - days * 86_400)
        let (year, month, day) = date(fromDays: days)
        let date = "\(four(year))-\(two(month))-\(two(day))"
        return (date, "\(two(secondOfDay / 3600)):\(two(secondOfDay % 3600 / 60)):\(two(secondOfDay % 60))")
    }

    private static func two(_ value: Int) -> String { value < 10 ? "0\(value)" : String(value) }
    private static func four(_ value: Int) -> String { String(repeating: "0", count: max(0, 4 - String(value).count)) + String(value) }

    // MARK: Reading

    /// Milliseconds since 1970 of an ISO-8601 date-time (the time is required); `defaultOffset` is the zone of text
    /// without one (`nil`: such text is refused, as RFC 3339 wants).
    static func millis(_ text: String, defaultOffset: Int? = nil) -> Int64? {
        var scanner = Scanner(Array(text.utf8))
        guard let year = scanner.digits(4), scanner.take("-"), let month = scanner.digits(2), scanner.take("-"),
            let day = scanner.digits(2), (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day)
        else { return nil }
        var secondOfDay = 0
        var fraction = 0
        do {
            guard scanner.take("T") || scanner.take("t") || scanner.take(" ") else { return nil }
            guard let hour = scanner.digits(2), scanner.take(":"), let minute = scanner.digits(2), hour < 24, minute < 60
            else { return nil }
            var second = 0
            if scanner.take(":") {
                guard let value = scanner.digits(2), value < 61 else { return nil }
                second = min(value, 59)  // a leap second reads as the last second of its minute
                if scanner.take(".") || scanner.take(",") {
                    guard let (value, count) = scanner.fraction() else { return nil }
                    fraction = count >= 3 ? value : value * (count == 1 ? 100 : 10)
                }
            }
            secondOfDay = hour * 3600 + minute * 60 + second
        }
        let offset: Int
        if scanner.take("Z") || scanner.take("z") {
            offset = 0
        } else if let sign = scanner.sign() {
            guard let hours = scanner.digits(2), hours < 24 else { return nil }
            var minutes = 0
            if scanner.take(":") {
                guard let value = scanner.digits(2) else { return nil }
                minutes = value
            } else if let value = scanner.digits(2) {
                minutes = value
            }
            guard minutes < 60 else { return nil }
            offset = sign * (hours * 3600 + minutes * 60)
        } else {
            guard let defaultOffset else { return nil }
            offset = defaultOffset
        }
        guard scanner.atEnd else { return nil }
        let seconds = days(year: year, month: month, day: day) * 86_400 + Int64(secondOfDay) - Int64(offset)
        return seconds * 1000 + Int64(fraction)
    }

    /// Whole seconds (fractions dropped toward the past).
    static func seconds(_ text: String, defaultOffset: Int? = nil) -> Int64? {
        millis(text, defaultOffset: defaultOffset).map { floorDivide($0, 1000) }
    }

    // MARK: Calendar (proleptic Gregorian)

    static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 to the given date.
    static func days(year: Int, month: Int, day: Int) -> Int64 {
        // Whole years since year 0, then the months of this year.
        func daysBefore(year: Int) -> Int64 {
            let previous = Int64(year - 1)
            return Int64(year) * 365 + floorDivide(previous, 4) - floorDivide(previous, 100) + floorDivide(previous, 400) + 1
        }
        var total = daysBefore(year: year) - daysBefore(year: 1970)
        for earlier in 1..<month { total += Int64(daysIn(month: earlier, year: year)) }
        return total + Int64(day - 1)
    }

    /// The date `days` after 1970-01-01.
    static func date(fromDays days: Int64) -> (year: Int, month: Int, day: Int) {
        // Estimate the year from the mean Gregorian year, then correct by at most a step either way.
        var year = 1970 + Int(floorDivide(days * 400, 146_097))
        while Self.days(year: year, month: 1, day: 1) > days { year -= 1 }
        while Self.days(year: year + 1, month: 1, day: 1) <= days { year += 1 }
        var remaining = Int(days - Self.days(year: year, month: 1, day: 1))
        var month = 1
        while remaining >= daysIn(month: month, year: year) {
            remaining -= daysIn(month: month, year: year)
            month += 1
        }
        return (year, month, remaining + 1)
    }

    static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        let quotient = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? quotient - 1 : quotient
    }

    /// Reads ASCII left to right.
    private struct Scanner {
        let bytes: [UInt8]
        var index = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { index == bytes.count }

        mutating func take(_ character: Character) -> Bool {
            guard index < bytes.count, let ascii = character.asciiValue, bytes[index] == ascii else { return false }
            index += 1
            return true
        }

        mutating func digits(_ count: Int) -> Int? {
            guard index + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[index..<index + count] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            index += count
            return value
        }

        /// Up to the first three digits of a fraction as a number, and how many digits there were (at least one).
        mutating func fraction() -> (Int, Int)? {
            var value = 0
            var count = 0
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                if count < 3 { value = value * 10 + Int(bytes[index] - UInt8(ascii: "0")) }
                count += 1
                index += 1
            }
            return count == 0 ? nil : (value, count)
        }

        mutating func sign() -> Int? {
            if take("+") { return 1 }
            if take("-") { return -1 }
            return nil
        }
    }
}
