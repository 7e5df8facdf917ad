import Foundation
import Testing

@testable import DealSyncSimulators

/// The simulators' own date text, checked against Foundation's calendar and hand-written instants.
struct DateTextTests {
    @Test func writesPHPsDateCInTheGivenOffset() {
        #expect(DateText.php(seconds: 1_725_020_940, offsetSeconds: 2 * 3600) == "2024-08-30T14:29:00+02:00")
        #expect(DateText.php(seconds: 1_725_020_940, offsetSeconds: 0) == "2024-08-30T12:29:00+00:00", "PHP never writes Z")
        #expect(DateText.php(seconds: 0, offsetSeconds: -(3 * 3600 + 1800)) == "1969-12-31T20:30:00-03:30")
        #expect(DateText.php(seconds: 951_782_400, offsetSeconds: 0) == "2000-02-29T00:00:00+00:00")
    }

    @Test func writesMasterDealsUTCWithMilliseconds() {
        #expect(DateText.utcMillis(1_795_428_000_123) == "2026-11-23T10:00:00.123Z")
        #expect(DateText.utcMillis(1_795_428_000_005) == "2026-11-23T10:00:00.005Z")
        #expect(DateText.utcMillis(-1) == "1969-12-31T23:59:59.999Z")
    }

    @Test func readsISO8601WithOffsetsAndFractions() {
        #expect(DateText.millis("2024-08-30T14:29:00+02:00") == 1_725_020_940_000)
        #expect(DateText.millis("2024-08-30T12:29:00Z") == 1_725_020_940_000)
        #expect(DateText.millis("2024-08-30 12:29:00.5z") == 1_725_020_940_500)
        #expect(DateText.millis("2024-08-30T15:59:00.12+0330") == 1_725_020_940_120)
        #expect(DateText.millis("2024-08-30T13:29+01") == 1_725_020_940_000, "seconds may be left out")
        #expect(DateText.millis("2016-12-31T23:59:60Z") == DateText.millis("2016-12-31T23:59:59Z"), "a leap second")
        #expect(DateText.millis("2024-08-30T14:29:00") == nil, "no offset, no default zone")
        #expect(DateText.millis("2024-08-30T14:29:00", defaultOffset: 7200) == 1_725_020_940_000)
        let refused = [
            "2024-08-30", "2024-02-30T00:00:00Z", "2024-13-01T00:00:00Z", "2024-08-30T24:00:00Z", "2024-08-30T14:29:00+02:00x",
            "24-08-30T14:29:00Z", "2024-08-30T14:29:00+2",
        ]
        for bad in refused {
            #expect(DateText.millis(bad) == nil, "\(bad)")
        }
    }

    @Test func theCalendarAgreesWithFoundationsGregorianCalendar() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = try #require(TimeZone(identifier: "UTC"))
        for days in stride(from: Int64(-25_567), through: 157_000, by: 37) {  // 1900 to 2399
            let date = Date(timeIntervalSince1970: Double(days) * 86_400)
            let parts = calendar.dateComponents([.year, .month, .day], from: date)
            let civil = DateText.date(fromDays: days)
            #expect(civil.year == parts.year && civil.month == parts.month && civil.day == parts.day, "day \(days)")
            #expect(DateText.days(year: civil.year, month: civil.month, day: civil.day) == days)
        }
    }
}
