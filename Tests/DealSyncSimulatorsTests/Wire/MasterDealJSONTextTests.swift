import DealSyncCore
import DealSyncSimulators
import Foundation
import Testing

/// The simulated MasterDeal writes its JSON itself: what it writes must be JSON that another reader (Foundation's)
/// reads back as the value written, keys in order, nothing escaped that JSON does not require.
struct MasterDealJSONTextTests {
    typealias JSONValue = MasterDealSimulator.JSONValue

    @Test func valuesWrittenAreReadBackByFoundationAsTheyWere() throws {
        var generator = SplitMix64(seed: 0x4D44_4A53)
        let texts = ["", "Сочи, 7 ночей", "a\"b\\c/d", "line\nbreak\r\t\u{8}\u{C}", "\u{1}\u{1F}\u{7F}", "😀 é", "</script>"]
        let numbers: [Double] = [0, -0.5, 150_000, 1e21, 0.1, 123_456.789, -7, 9_007_199_254_740_993, 1e-7]
        func value(_ depth: Int) -> JSONValue {
            switch Int.random(in: 0..<(depth > 2 ? 4 : 6), using: &generator) {
            case 0: return .null
            case 1: return .bool(Bool.random(using: &generator))
            case 2: return .number(numbers.randomElement(using: &generator)!)
            case 3: return .string(texts.randomElement(using: &generator)!)
            case 4: return .array((0..<Int.random(in: 0..<4, using: &generator)).map { _ in value(depth + 1) })
            default:
                var members: [String: JSONValue] = [:]
                for _ in 0..<Int.random(in: 0..<5, using: &generator) {
                    members[texts.randomElement(using: &generator)! + "\(Int.random(in: 0..<3, using: &generator))"] = value(depth + 1)
                }
                return .object(members)
            }
        }
        var checked = 0
        for _ in 0..<2_000 {
            let written = value(0)
            #expect(try JSONValue.parse(written.serialized()) == written, "\(written.text)")
            checked += 1
        }
        #expect(checked == 2_000)
    }

    @Test func theTextIsCompactWithKeysInOrder() {
        let deal: JSONValue = [
            "stage": "won", "amount": ["value": "150000.00", "currency": "RUB"], "tags": ["a/b", "c"], "version": 3, "ratio": 0.5,
            "closed": false, "owner": nil, "Note": "x\"y\n",
        ]
        #expect(
            deal.text
                == #"{"Note":"x\"y\n","amount":{"currency":"RUB","value":"150000.00"},"closed":false,"owner":null,"ratio":0.5,"#
                + #""stage":"won","tags":["a/b","c"],"version":3}"#)
        #expect(JSONValue.number(.infinity).text == "null")
    }

    @Test func signaturesAreLowercaseHexOfTheHMAC() {
        // HMAC-SHA256("secret", "1700000000.{}"), computed independently with `openssl dgst -sha256 -hmac secret`.
        #expect(
            MasterDealSimulator.signature(secret: "secret", body: "{}", timestamp: 1_700_000_000)
                == "t=1700000000,v1=\(Self.expectedHMAC)")
    }

    static let expectedHMAC = "b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
}
