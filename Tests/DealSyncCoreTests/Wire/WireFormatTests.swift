import DealSyncCore
import Foundation
import Testing

struct TimestampTests {
    @Test(arguments: [
        ("2024-08-30T14:29:00+02:00", Int64(1_725_020_940_000)),
        ("2024-08-30T12:29:00Z", Int64(1_725_020_940_000)),
        ("2024-08-30T12:29:00.250Z", Int64(1_725_020_940_250)),
        ("2024-08-30T15:29:00+0300", Int64(1_725_020_940_000)),
        ("1969-12-31T23:59:59Z", Int64(-1000)),
        ("2000-02-29T00:00:00Z", Int64(951_782_400_000)),
    ])
    func parsesISO8601WithOffsets(text: String, millis: Int64) {
        #expect(Timestamp.parseMillis(text) == millis)
    }

    @Test(arguments: ["2024-08-30T14:29:00", "2024-13-01T00:00:00Z", "yesterday", "2024-08-30T14:29:00+2", ""])
    func rejectsTimestampsWithoutOffsetOrMalformed(text: String) {
        #expect(Timestamp.parseMillis(text) == nil)
    }

    @Test func formatsWithTheGivenOffsetAndRoundTrips() {
        #expect(Timestamp.iso8601(seconds: 1_725_020_940, offsetSeconds: 3 * 3600) == "2024-08-30T15:29:00+03:00")
        #expect(Timestamp.iso8601(millis: 1_725_020_940_250) == "2024-08-30T12:29:00.250Z")
        for seconds in stride(from: Int64(-86_400 * 400), to: 86_400 * 365 * 90, by: 86_400 * 37 + 3_671) {
            let text = Timestamp.iso8601(seconds: seconds, offsetSeconds: -5 * 3600 - 1800)
            #expect(Timestamp.parseSeconds(text) == seconds)
        }
    }
}

struct DecimalTextTests {
    @Test func parsesOnlyPlainDecimals() {
        #expect(DecimalText.parse("1000.50") == Decimal(string: "1000.5"))
        #expect(DecimalText.parse("-0.25") == Decimal(string: "-0.25"))
        for bad in ["1e3", "1,000", "", "abc", "1.2.3", "-", "."] {
            #expect(DecimalText.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func formatsWithoutExponentAndWithMinimumFraction() {
        #expect(DecimalText.format(Decimal(string: "1000.5")!, minimumFractionDigits: 2) == "1000.50")
        #expect(DecimalText.format(Decimal(string: "1000")!, minimumFractionDigits: 2) == "1000.00")
        #expect(DecimalText.format(Decimal(string: "12345678901234567890.123")!) == "12345678901234567890.123")
    }

    @Test func roundsHalfAwayFromZero() {
        #expect(DecimalText.rounded(Decimal(string: "1000.5")!, scale: 0) == 1001)
        #expect(DecimalText.rounded(Decimal(string: "-1000.5")!, scale: 0) == -1001)
        #expect(DecimalText.rounded(Decimal(string: "1000.49")!, scale: 0) == 1000)
    }

    @Test func equalAmountsHashEqually() {
        let a = FieldValue.money(Money(amount: Decimal(string: "1500.50")!, currency: "rub"))
        let b = FieldValue.money(Money(amount: Decimal(string: "1500.5")!, currency: "RUB"))
        #expect(a == b)
        #expect(Set([a, b]).count == 1)
    }
}

struct PHPFormTests {
    @Test func parsesBracketKeysInAnyOrder() throws {
        let body =
            "leads%5Bupdate%5D%5B0%5D%5Bname%5D=%D0%A2%D1%83%D1%80+%D0%B2+%D0%A1%D0%BE%D1%87%D0%B8"
            + "&account%5Bid%5D=29085955&leads[update][0][id]=12345&leads[update][1][id]=12346"
            + "&leads[update][0][custom_fields][0][values][0]=1735689600&leads[status][0][id]=12345"
        let form = try PHPForm.parse(body)
        let updates = try #require(form["leads"]?["update"]?.map?.indexed)
        #expect(updates.count == 2)
        #expect(updates[0]["id"]?.string == "12345")
        #expect(updates[0]["name"]?.string == "Тур в Сочи")
        #expect(updates[0]["custom_fields"]?["0"]?["values"]?["0"]?.string == "1735689600")
        #expect(form["account"]?["id"]?.string == "29085955")
        #expect(form["leads"]?["status"]?["0"]?["id"]?.string == "12345")
    }

    @Test func appendsForEmptyBrackets() throws {
        let form = try PHPForm.parse("select[]=ID&select[]=TITLE")
        #expect(form["select"]?.map?.indexed.compactMap(\.string) == ["ID", "TITLE"])
    }

    @Test func rejectsMalformedEscapesAndHostileBodies() {
        #expect(throws: PHPForm.ParseError.self) { try PHPForm.parse("a=%E0%A4") }
        #expect(throws: PHPForm.ParseError.self) { try PHPForm.parse("a=%zz") }
        let deep = "a" + String(repeating: "[x]", count: 20) + "=1"
        #expect(throws: PHPForm.ParseError.self) { try PHPForm.parse(deep) }
    }

    @Test func encodingRoundTrips() throws {
        let pairs = [("fields[TITLE]", "Абонемент & тренер"), ("fields[OPPORTUNITY]", "15000.00"), ("id", "42")]
        let parsed = try PHPForm.parse(PHPForm.encode(pairs))
        #expect(PHPForm.flatten(parsed).map { "\($0.0)=\($0.1)" } == pairs.map { "\($0.0)=\($0.1)" })
    }
}
