import Foundation
import Testing

@testable import DealSyncSimulators

/// The simulators' own decimal text.
struct DecimalStringTests {
    @Test func parsesPlainDecimalNotationOnly() {
        #expect(DecimalString.parse("1000") == Decimal(1000))
        #expect(DecimalString.parse("1000.50") == Decimal(string: "1000.5", locale: Locale(identifier: "en_US_POSIX")))
        #expect(DecimalString.parse("-0.25") == Decimal(-25) / 100)
        #expect(DecimalString.parse(".5") == Decimal(5) / 10)
        #expect(DecimalString.parse(" 7 ") == Decimal(7))
        for bad in ["", "-", ".", "1e3", "1,5", "1 000", "+5", "1.2.3", "١٢"] {
            #expect(DecimalString.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func formatsWithoutExponentAndWithTheFractionAsked() {
        #expect(DecimalString.format(Decimal(15000), minimumFractionDigits: 2) == "15000.00")
        #expect(DecimalString.format(DecimalString.parse("15000.5")!, minimumFractionDigits: 2) == "15000.50")
        #expect(DecimalString.format(DecimalString.parse("0.125")!, minimumFractionDigits: 2) == "0.125")
        #expect(DecimalString.format(DecimalString.parse("1000.500")!) == "1000.5")
        #expect(DecimalString.format(Decimal(sign: .plus, exponent: 20, significand: 3)) == "300000000000000000000")
        #expect(DecimalString.format(Decimal(sign: .minus, exponent: -7, significand: 5)) == "-0.0000005")
        #expect(DecimalString.format(Decimal(0), minimumFractionDigits: 2) == "0.00")
    }

    @Test func roundsHalfAwayFromZero() {
        #expect(DecimalString.format(DecimalString.rounded(DecimalString.parse("2.345")!, scale: 2)) == "2.35")
        #expect(DecimalString.format(DecimalString.rounded(DecimalString.parse("-2.345")!, scale: 2)) == "-2.35")
        #expect(DecimalString.format(DecimalString.rounded(DecimalString.parse("2.344")!, scale: 2)) == "2.34")
    }
}
