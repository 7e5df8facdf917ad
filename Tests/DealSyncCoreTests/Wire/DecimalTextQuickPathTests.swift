import Foundation
import Testing

@testable import DealSyncCore

/// ``DecimalText``'s quick paths must give exactly what Foundation gives: the same `Decimal`, bit for bit (equal
/// amounts stored and compared the same way whichever path read them), and the same text.
struct DecimalTextQuickPathTests {
    /// The bytes of a `Decimal`: its representation, not only its value.
    static func bits(_ value: Decimal?) -> [UInt8]? {
        guard var value else { return nil }
        return withUnsafeBytes(of: &value) { Array($0) }
    }

    /// Amount-like texts: signs, leading and trailing zeros, up to 19 significant digits and a few beyond.
    static func texts(count: Int, seed: UInt64) -> [String] {
        var random = SplitMix64(seed: seed)
        var texts: [String] = []
        for _ in 0..<count {
            var text = random.next(below: 4) == 0 ? "-" : ""
            let whole = random.next(below: 5) == 0 ? 0 : 1 + random.next(below: 21)
            text +=
                whole == 0
                ? "0"
                : String((0..<whole).map { index in Character(String(index == 0 ? 1 + random.next(below: 9) : random.next(below: 10))) })
            if random.bool() {
                let fraction = 1 + random.next(below: 12)
                text +=
                    "." + String((0..<fraction).map { _ in random.next(below: 3) == 0 ? "0" : Character(String(random.next(below: 10))) })
            }
            texts.append(text)
        }
        return texts + [
            "0", "-0", "0.0", "0.000", "1.", ".5", "-.5", "100", "1000.500", "0.001", "9999999999999999999", "18446744073709551615",
        ]
    }

    @Test func parsingGivesFoundationsDecimalBitForBit() {
        let texts = Self.texts(count: 20_000, seed: 0x5EED)
        #expect(texts.count == 20_012)
        var quick = 0
        for text in texts {
            if DecimalText.quickParse(text.utf8) != nil { quick += 1 }
            #expect(Self.bits(DecimalText.parse(text)) == Self.bits(DecimalText.foundationParse(text)), "\(text)")
        }
        // Most of them went the quick way (those of more than 19 digits did not).
        #expect(quick > 15_000)
    }

    @Test func formattingGivesFoundationsText() {
        var values = Self.texts(count: 5_000, seed: 0xF0F0).compactMap { Decimal(string: $0, locale: Locale(identifier: "en_US_POSIX")) }
        // Results of arithmetic are not compacted as parsing compacts them.
        var random = SplitMix64(seed: 7)
        for index in 0..<values.count {
            let other = Decimal(random.next(below: 1_000)) / 8
            values.append(values[index] * other)
            values.append(values[index] + other)
            values.append(DecimalText.rounded(values[index], scale: random.next(below: 4)))
        }
        #expect(values.count == 4 * 5_012)
        var quick = 0
        for value in values {
            if DecimalText.quickFormat(value) != nil { quick += 1 }
            #expect(DecimalText.format(value) == DecimalText.foundationFormat(value), "\(value)")
        }
        #expect(quick > 10_000)
        #expect(DecimalText.quickFormat(Decimal.nan) == nil)
    }

    @Test func whatTheQuickParseRefusesIsLeftToFoundation() {
        for text in ["1e5", "1,5", " 1", "+1", "--1", "1.2.3", "", "-", "."] {
            #expect(DecimalText.quickParse(text.utf8) == nil, "\(text)")
        }
        #expect(DecimalText.parse(" 12.50 ") == Decimal(string: "12.5"))
    }
}
