import DealSyncCore
import Foundation
import Testing

@testable import DealSyncCore

/// JSONText must give what Foundation's coders give (they were the codec before it, and stored dedupe keys hash
/// its output), and refuse what they refuse.
@Suite struct JSONTextTests {
    /// The coders' results, as the project used them.
    static func coderText(_ value: JSONValue) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func coderParse(_ text: String) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    @Test func randomDocumentsAreWrittenAndReadAsTheCodersDo() throws {
        var random = SplitMix64(seed: 0x5EED_0001)
        var compared = 0
        for _ in 0..<2_000 {
            let value = Self.document(&random, depth: 0)
            let text = JSONText.text(value)
            #expect(text == (try Self.coderText(value)))
            let parsed = JSONText.parse(text)
            #expect(parsed != nil)
            #expect(parsed == Self.coderParse(text))
            // Read back, the value is the one the coders read, spaced or not.
            let spaced = try String(
                decoding: JSONSerialization.data(
                    withJSONObject: JSONSerialization.jsonObject(
                        with: Data(text.utf8), options: .fragmentsAllowed), options: [.prettyPrinted, .fragmentsAllowed]), as: UTF8.self)
            #expect(JSONText.parse(spaced) == Self.coderParse(spaced))
            compared += 1
        }
        #expect(compared == 2_000)
    }

    @Test(arguments: [
        "0", "-0", "7", "-12", "1.50", "0.001", "-0.25", "1e3", "1E-2", "2.5e+2", "123456789012345678", "1234567890123456789",
        "99999999999999999999999", "0.1000", "-1.0", "3.14159265358979323846",
    ])
    func numbersKeepTheCodersText(_ text: String) throws {
        let ours = try #require(JSONText.parse(text))
        #expect(ours == Self.coderParse(text))
        #expect(JSONText.text(ours) == (try Self.coderText(ours)))
    }

    @Test(arguments: [
        "", " ", "{", "}", "[,1]", "[1,,]", "{,}", "[,]", "{\"a\" 1}", "{a:1}", "'x'", "\"abc", "\"a\\x\"", "\"\\u12\"", "\"\\uD800\"",
        "\"\\uDC00x\"", "\"\\uD800\\u0041\"", "01", "1.", ".5", "-", "1e", "+1", "tru", "nul", "true false", "[1] 2", "\"a\u{01}b\"",
        "NaN", "Infinity", "[1 2]", "{\"a\":}",
    ])
    func malformedDocumentsAreRefused(_ text: String) {
        #expect(JSONText.parse(text) == nil)
        #expect(Self.coderParse(text) == nil)
    }

    @Test(arguments: ["[1,]", "{\"a\":1,}", "\u{FEFF}1", "\u{FEFF}{\"a\":[1,2,],}"])
    func whatTheCodersAllowIsAllowed(_ text: String) {
        #expect(JSONText.parse(text) != nil)
        #expect(JSONText.parse(text) == Self.coderParse(text))
    }

    @Test func invalidUTF8IsRefused() {
        let bytes: [UInt8] = [0x22, 0x61, 0xFF, 0x62, 0x22]
        #expect(JSONText.parse(Data(bytes)) == nil)
        #expect((try? JSONDecoder().decode(JSONValue.self, from: Data(bytes))) == nil)
    }

    @Test func escapesAreRead() {
        #expect(JSONText.parse(#""a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00""#) == .string("a\"b\\c/d\u{08}\u{0C}\n\r\té😀"))
        #expect(JSONText.text(.string("a/b\u{01}\u{1F}\"")) == #""a/b\u0001\u001f\"""#)
    }

    @Test func everyControlCharacterIsWrittenAsTheCodersWriteIt() throws {
        let all = String(String.UnicodeScalarView((0..<0x20).compactMap(Unicode.Scalar.init) + ["\u{7F}", "/", "\\", "\""]))
        #expect(JSONText.text(.string(all)) == (try Self.coderText(.string(all))))
        #expect(JSONText.parse(JSONText.text(.string(all))) == .string(all))
    }

    /// A number made in code (not read) is written in the coders' normalised form.
    @Test(arguments: ["1.50", "-0", "007", "1e3", "0.10", "12", "-5", "123456789012345678901234"])
    func numbersMadeInCodeAreWrittenNormalised(_ text: String) throws {
        #expect(JSONText.text(.number(text)) == (try Self.coderText(.number(text))))
    }

    @Test func deepNestingIsRefusedWithoutExhaustingTheStack() {
        let deep = String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000)
        #expect(JSONText.parse(deep) == nil)
        let allowed = String(repeating: "[", count: JSONText.maximumDepth) + String(repeating: "]", count: JSONText.maximumDepth)
        #expect(JSONText.parse(allowed) != nil)
        let over = "[" + allowed + "]"
        #expect(JSONText.parse(over) == nil)
    }

    // MARK: Generated documents

    static let alphabet: [String] = [
        "a", "B", "z", "_", "0", "9", " ", "/", "\\", "\"", "\n", "\t", "\r", "\u{08}", "\u{0C}", "\u{01}", "\u{1F}", "\u{7F}", "é",
        "Ж", "€", "😀", "\u{2028}", "-", ".", "[", "{",
    ]

    static func text(_ random: inout SplitMix64) -> String {
        String((0..<Int(random.next() % 8)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }.joined())
    }

    static func number(_ random: inout SplitMix64) -> String {
        switch random.next() % 6 {
        case 0: return String(Int64(bitPattern: random.next()) >> Int(random.next() % 63))
        case 1: return String(Int(random.next() % 1000))
        case 2: return "\(random.next() % 10_000).\(random.next() % 1000)"
        case 3: return "-\(random.next() % 100).\(String(format: "%03d", Int(random.next() % 1000)))"
        case 4: return "\(random.next() % 100)e\(Int(random.next() % 10))"
        default: return "0"
        }
    }

    static func document(_ random: inout SplitMix64, depth: Int) -> JSONValue {
        switch random.next() % (depth > 3 ? 4 : 6) {
        case 0: return .null
        case 1: return .bool(random.bool())
        case 2:
            // Numbers as the coders would hold them: normalised text.
            let parsed = coderParse(number(&random)) ?? .number("0")
            return parsed
        case 3: return .string(text(&random))
        case 4: return .array((0..<Int(random.next() % 5)).map { _ in document(&random, depth: depth + 1) })
        default:
            var members: [String: JSONValue] = [:]
            for _ in 0..<Int(random.next() % 5) { members[text(&random)] = document(&random, depth: depth + 1) }
            return .object(members)
        }
    }
}
