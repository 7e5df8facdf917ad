import Crypto
import DealSyncCore
import Foundation
import Testing

@testable import DealSyncCore

/// Field state's hand-written JSON form must be its Codable form: states stored by either are read by the
/// other, and a state read back is the state written.
@Suite struct FieldStateJSONTests {
    @Test func randomStatesRoundTripBothWays() throws {
        var random = SplitMix64(seed: 0xF1E1_D517)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var checked = 0
        for _ in 0..<3_000 {
            let state = Self.state(&random)
            let ours = state.jsonText
            // Written here, read by the coders; written by the coders, read here; and the same document.
            #expect(try JSONDecoder().decode(FieldState.self, from: Data(ours.utf8)) == state)
            let theirs = String(decoding: try encoder.encode(state), as: UTF8.self)
            #expect(try FieldState(jsonText: theirs) == state)
            #expect(JSONText.parse(ours) == JSONText.parse(theirs))
            // Stamps compare equal without their versions: the texts show a version kept.
            #expect(try FieldState(jsonText: theirs).jsonText == ours)
            checked += 1
        }
        #expect(checked == 3_000)
    }

    /// The stored text is read and written without building the tree, and must be the tree's: the same text
    /// written, the same state read, in any key order and spacing (PostgreSQL's `jsonb` gives its own back).
    @Test func theDirectTextIsTheTreesText() throws {
        var random = SplitMix64(seed: 0x7E47_D1EC)
        var checked = 0
        for _ in 0..<3_000 {
            let state = Self.state(&random)
            #expect(state.jsonText == JSONText.text(state.json))
            let stored = Self.jsonbText(state.json)
            #expect(try FieldState(jsonText: stored) == state, "\(stored)")
            #expect(try FieldState(jsonText: stored) == FieldState(json: try #require(JSONText.parse(stored))))
            checked += 1
        }
        #expect(checked == 3_000)
    }

    /// Damaged texts (a byte changed, inserted or dropped, or the text cut short) are refused or read by the
    /// direct reader exactly as the tree's reader refuses or reads them.
    @Test func damagedTextsAreReadAsTheTreesReaderReadsThem() throws {
        var random = SplitMix64(seed: 0xDA3A_6ED0)
        let alphabet = Array(#"{}[]":,. -0123456789ntfrue"abckx\"#.utf8)
        var refused = 0
        var read = 0
        for _ in 0..<20_000 {
            var bytes = Array(Self.state(&random).jsonText.utf8)
            let at = random.next(below: bytes.count)
            switch random.next(below: 4) {
            case 0: bytes[at] = alphabet[random.next(below: alphabet.count)]
            case 1: bytes.insert(alphabet[random.next(below: alphabet.count)], at: at)
            case 2: bytes.remove(at: at)
            default: bytes = Array(bytes.prefix(at))
            }
            let text = String(decoding: bytes, as: UTF8.self)
            let direct = try? FieldState(jsonText: text)
            let tree = JSONText.parse(text).flatMap { try? FieldState(json: $0) }
            #expect(direct == tree, "\(text)")
            if direct == nil { refused += 1 } else { read += 1 }
        }
        // Both kinds were really tried.
        #expect(refused > 1_000 && read > 1_000, "\(refused) refused, \(read) read")
    }

    /// A document in PostgreSQL's `jsonb` output form: keys by length, then bytes; a space after `:` and `,`.
    static func jsonbText(_ value: JSONValue) -> String {
        switch value {
        case .object(let members):
            let keys = members.keys.sorted { a, b in
                a.utf8.count != b.utf8.count ? a.utf8.count < b.utf8.count : a.utf8.lexicographicallyPrecedes(b.utf8)
            }
            return "{" + keys.map { JSONText.text(.string($0)) + ": " + jsonbText(members[$0]!) }.joined(separator: ", ") + "}"
        case .array(let items):
            return "[" + items.map(jsonbText).joined(separator: ", ") + "]"
        default:
            return JSONText.text(value)
        }
    }

    @Test func statesStoredBeforeNewerMembersExistedAreRead() throws {
        // A state written before `ours_since`, `before_ours_at` and `ours_reported` were kept.
        let old =
            #"{"crm":{"known":{"text":"a"},"known_at":{"millis":1000},"known_is_ours":false,"pending":[],"written":[]},"#
            + #""decided":{"text":"a"},"decided_at":{"millis":1000},"decided_by":"crm","master":{"pending":[],"written":[{"null":true}]}}"#
        let state = try FieldState(jsonText: old)
        #expect(state == (try JSONDecoder().decode(FieldState.self, from: Data(old.utf8))))
        #expect(state.crm.oursReported.isEmpty && state.master.written == [.null])
    }

    /// A side's members at their defaults are left out of the stored text (most fields are quiet, and a batch
    /// writes and reads back every state of each link it touches), and read back as those defaults.
    @Test func membersAtTheirDefaultsAreLeftOut() throws {
        var state = FieldState(
            decided: .text("a"), decidedBy: .crm, decidedAt: SourceStamp(millis: 1000),
            crm: SideState(known: .text("a"), knownAt: SourceStamp(millis: 1000)))
        #expect(
            state.jsonText
                == #"{"crm":{"known":{"text":"a"},"known_at":{"millis":1000}},"decided":{"text":"a"},"decided_at":{"millis":1000},"#
                + #""decided_by":"crm","master":{}}"#)
        #expect(try FieldState(jsonText: state.jsonText) == state)
        state.master.knownIsOurs = true
        state.master.written = [.text("a")]
        #expect(state.jsonText.contains(#""master":{"known_is_ours":true,"written":[{"text":"a"}]}"#))
        #expect(try FieldState(jsonText: state.jsonText) == state)
    }

    @Test(arguments: [
        #"{"master":{},"crm":{}}"#, #"{"master":{"known":null},"crm":{"known_at":null}}"#,
    ])
    func absentAndNullMembersAreReadAsTheCodersDo(_ text: String) throws {
        #expect(try FieldState(jsonText: text) == JSONDecoder().decode(FieldState.self, from: Data(text.utf8)))
    }

    @Test(arguments: [
        "[]", #"{"master":{}}"#, #"{"master":{},"crm":{"known":{"colour":1}}}"#, #"{"master":{},"crm":{"known_at":{"millis":"1"}}}"#,
        #"{"master":{},"crm":{},"decided_by":"both"}"#, #"{"master":{},"crm":{"pending":[{"key":"k"}]}}"#,
        #"{"master":{},"crm":{"known":{"money":{"amount":"x","currency":"RUB"}}}}"#, "not json",
    ])
    func wrongShapesAreRefused(_ text: String) {
        #expect(throws: JSONShapeError.self) { try FieldState(jsonText: text) }
        #expect((try? JSONDecoder().decode(FieldState.self, from: Data(text.utf8))) == nil)
    }

    /// A link's states are one document: field names in order, each state its own text; read back as written,
    /// and as PostgreSQL's `jsonb` gives it back (the upgrade from a row per field builds it with `jsonb`).
    @Test func aLinksStatesRoundTripAsOneDocument() throws {
        var random = SplitMix64(seed: 0x11_4B5)
        var checked = 0
        for _ in 0..<500 {
            var states: [String: FieldState] = [:]
            for index in 0..<random.next(below: 9) {
                states[["title", "stage", "budget", "поле \"x\"", "a/b", "owner", "tour_type", "z", "insured"][index]] = Self.state(&random)
            }
            let text = FieldState.jsonText(of: states)
            #expect(try FieldState.states(jsonText: text) == states)
            let tree = JSONValue.object(states.mapValues(\.json))
            #expect(JSONText.parse(text) == tree)
            #expect(try FieldState.states(jsonText: Self.jsonbText(tree)) == states)
            checked += 1
        }
        #expect(checked == 500)
        #expect(FieldState.jsonText(of: [:]) == "{}")
        #expect(try FieldState.states(jsonText: "{}").isEmpty)
    }

    /// Integers are read from their digits when written plainly; every other way of writing a number is read as the
    /// tree's reader reads it (a fraction of zero or an exponent is still an integer, too many digits is not).
    @Test(arguments: [
        "0", "-7", "1796570937000", "999999999999999999", "-999999999999999999", "9223372036854775807", "-9223372036854775808",
        "9223372036854775808", "99999999999999999999", "1.0", "1.5", "1e3", "1E3", "-0", "01", "-", " 42 ", "4 2", "0x10", "\"5\"",
    ])
    func integersAreReadAsTheTreesReaderReadsThem(_ number: String) {
        let text = #"{"crm":{"known_at":{"millis":"# + number + #"}},"master":{}}"#
        let direct = try? FieldState(jsonText: text)
        let tree = JSONText.parse(text).flatMap { try? FieldState(json: $0) }
        #expect(direct == tree)
        #expect(direct?.crm.knownAt?.millis == tree?.crm.knownAt?.millis)
    }

    @Test func aDamagedDocumentOfStatesIsRefusedNamingTheField() throws {
        let good = FieldState.jsonText(of: ["title": FieldState(), "stage": FieldState()])
        #expect(try FieldState.states(jsonText: good).count == 2)
        for text in ["[]", "", good + "x", String(good.dropLast()), #"{"title":{"master":{}}}"#, #"{"title":1}"#] {
            #expect(throws: JSONShapeError.self, "\(text)") { try FieldState.states(jsonText: text) }
        }
        let error = #expect(throws: JSONShapeError.self) { try FieldState.states(jsonText: #"{"title":{"master":{}}}"#) }
        #expect(error?.description == "title: crm: missing")
    }

    /// Idempotency keys hash the values' JSON: written without the coders, keys made before are made again.
    @Test func idempotencyKeysStayWhatTheCodersMadeThem() throws {
        var random = SplitMix64(seed: 0x1DE4_7E11)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var checked = 0
        for round in 0..<1_000 {
            var values: [String: FieldValue] = [:]
            for index in 0..<Int(random.next() % 6) {
                values[["title", "a/b", "custom_fields.7", "Ж", "price"][index % 5] + "\(index)"] = Self.value(&random)
            }
            if round % 7 == 0 { values["url"] = .text("https://example.com/a/b") }
            var hasher = SHA256()
            for part in ["masterdeal", "deal-\(round)", "update", "inbox:\(round):0"] {
                hasher.update(data: Data(part.utf8))
                hasher.update(data: Data([0]))
            }
            hasher.update(data: try encoder.encode(values))
            let before = "ds1-" + hasher.finalize().prefix(16).map { String(format: "%02x", $0) }.joined()
            #expect(
                IdempotencyKey.make(
                    target: "masterdeal", record: "deal-\(round)", operation: "update", values: values,
                    cause: "inbox:\(round):0") == before)
            checked += 1
        }
        #expect(checked == 1_000)
    }

    // MARK: Generated states

    static func value(_ random: inout SplitMix64) -> FieldValue {
        switch random.next() % 7 {
        case 0: return .null
        case 1: return .text(["", "Тур в Сочи", "a\"b\\c/d\n", "😀", "x"][Int(random.next() % 5)])
        case 2: return .integer(Int64(bitPattern: random.next()) >> Int(random.next() % 63))
        case 3: return .decimal(DecimalText.parse("\(random.next() % 100_000).\(random.next() % 100)")!)
        case 4: return .bool(random.bool())
        case 5: return .money(Money(amount: DecimalText.parse("\(random.next() % 1_000_000).\(random.next() % 100)")!, currency: "rub"))
        default: return .time(Int64(random.next() % 2_000_000_000))
        }
    }

    static func stamp(_ random: inout SplitMix64) -> SourceStamp {
        SourceStamp(millis: Int64(random.next() % 2_000_000_000_000), version: random.bool() ? Int64(random.next() % 1000) : nil)
    }

    static func maybe<T>(_ random: inout SplitMix64, _ make: (inout SplitMix64) -> T) -> T? {
        random.bool() ? make(&random) : nil
    }

    static func side(_ random: inout SplitMix64) -> SideState {
        var side = SideState(known: maybe(&random, value), knownAt: maybe(&random, stamp))
        side.knownIsOurs = random.bool()
        side.oursSince = maybe(&random, stamp)
        side.beforeOursAt = maybe(&random, stamp)
        side.oursReported = (0..<Int(random.next() % 3)).map { _ in StampSpan(from: stamp(&random), to: stamp(&random)) }
        side.lastEditAt = maybe(&random, stamp)
        side.lastEdit = maybe(&random, value)
        side.pending = (0..<Int(random.next() % 3)).map { _ in
            PendingWrite(value: value(&random), key: "k\(random.next() % 100)", landedAt: maybe(&random, stamp))
        }
        side.heldSince = maybe(&random, stamp)
        side.written = (0..<Int(random.next() % 4)).map { _ in value(&random) }
        return side
    }

    static func state(_ random: inout SplitMix64) -> FieldState {
        FieldState(
            decided: maybe(&random, value), decidedBy: maybe(&random) { $0.bool() ? Side.master : Side.crm },
            decidedAt: maybe(&random, stamp), master: side(&random), crm: side(&random))
    }
}
