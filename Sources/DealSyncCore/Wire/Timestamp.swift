import Foundation

/// ISO-8601 timestamps with an explicit offset, and unix seconds, in both directions.
///
/// MasterDeal and Bitrix24 speak ISO-8601 with an offset (`2024-08-30T14:29:00+02:00`); amoCRM speaks unix
/// seconds. Parsing keeps the instant; formatting writes the offset it is given.
public enum Timestamp {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM|±HHMM)` into milliseconds since 1970.
    public static func parseMillis(_ text: String) -> Int64? {
        let scalars = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= scalars.count else { return nil }
            var value = 0
            for byte in scalars[from..<from + count] {
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard scalars.count >= 19,
            let year = number(0, 4), scalars[4] == UInt8(ascii: "-"),
            let month = number(5, 2), scalars[7] == UInt8(ascii: "-"),
            let day = number(8, 2), scalars[10] == UInt8(ascii: "T") || scalars[10] == UInt8(ascii: " "),
            let hour = number(11, 2), scalars[13] == UInt8(ascii: ":"),
            let minute = number(14, 2), scalars[16] == UInt8(ascii: ":"),
            let second = number(17, 2),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var index = 19
        var millis = 0
        if index < scalars.count, scalars[index] == UInt8(ascii: ".") {
            index += 1
            var digits = 0
            while index < scalars.count, scalars[index] >= 48, scalars[index] <= 57 {
                if digits < 3 { millis = millis * 10 + Int(scalars[index] - 48) }
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            var scale = min(digits, 3)
            while scale < 3 {
                millis *= 10
                scale += 1
            }
        }
        var offsetSeconds = 0
        guard index < scalars.count else { return nil }  // an offset is required
        switch scalars[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            index += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign = scalars[index] == UInt8(ascii: "-") ? -1 : 1
            guard let oh = number(index + 1, 2) else { return nil }
            var om = 0
            if index + 3 < scalars.count, scalars[index + 3] == UInt8(ascii: ":") {
                guard let m = number(index + 4, 2) else { return nil }
                om = m
                index += 6
            } else if let m = number(index + 3, 2) {
                om = m
                index += 5
            } else {
                index += 3
            }
            offsetSeconds = sign * (oh * 3600 + om * 60)
        default:
            return nil
        }
        guard index == scalars.count else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetSeconds)
        return seconds * 1000 + Int64(millis)
    }

    /// Parses into whole unix seconds (fractions are dropped).
    public static func parseSeconds(_ text: String) -> Int64? {
        parseMillis(text).map { floorDiv($0, 1000) }
    }

    /// Formats milliseconds as ISO-8601 in the given UTC offset, with milliseconds only when non-zero.
    public static func iso8601(millis: Int64, offsetSeconds: Int = 0) -> String {
        let local = floorDiv(millis, 1000) + Int64(offsetSeconds)
        let fraction = Int(millis - floorDiv(millis, 1000) * 1000)
        let days = floorDiv(local, 86_400)
        let secondOfDay = Int(local - days * 86_400)
        let (year, month, day) = civilFromDays(Int(days))
        var text = String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d", year, month, day,
            secondOfDay / 3600, (secondOfDay % 3600) / 60, secondOfDay % 60)
        if fraction != 0 { text += String(format: ".%03d", fraction) }
        if offsetSeconds == 0 { return text + "Z" }
        let sign = offsetSeconds < 0 ? "-" : "+"
        let absolute = abs(offsetSeconds)
        return text + String(format: "%@%02d:%02d", sign, absolute / 3600, (absolute % 3600) / 60)
    }

    /// The contracts' event timestamp: UTC with exactly three fraction digits, `.000` on a whole second
    /// (`contracts/events/deal.schema.json#/$defs/timestamp`), where ``iso8601(millis:offsetSeconds:)`` leaves a
    /// zero fraction out.
    public static func eventTime(_ date: Date) -> String {
        let millis = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let text = iso8601(millis: millis)
        return millis % 1000 == 0 ? text.dropLast() + ".000Z" : text
    }

    /// Formats whole unix seconds in the given offset.
    public static func iso8601(seconds: Int64, offsetSeconds: Int = 0) -> String {
        iso8601(millis: seconds * 1000, offsetSeconds: offsetSeconds)
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    // Howard Hinnant's civil-calendar algorithms (proleptic Gregorian).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z: Int) -> (Int, Int, Int) {
        let z = z + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}
