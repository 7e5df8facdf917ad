import DealSyncCore
import Foundation
import Testing

@testable import DealSyncStore

/// What the store writes and reads without the coders is what the coders write and read: attempt logs written
/// either way read the same, and headers stored by any version read back the same.
struct StoreJSONTests {
    @Test func anAttemptsLogTextIsItsCodableText() throws {
        var checked = 0
        let details = ["", "HTTP 503: \"busy\" / retry", "таймаут \\ ответа", "line\nbreak\u{1}"]
        let times: [Double] = [0, 786_000_000, 786_000_000.5, 786_123_456.123_456, -5, 3_200_000_000.25, 4.5e9]
        for (index, time) in times.enumerated() {
            for status in [nil, 200, 412] as [Int?] {
                for worker in [nil, "gw-1/relay"] as [String?] {
                    let attempt = AttemptRecord(
                        at: Date(timeIntervalSinceReferenceDate: time), status: status, errorClass: ["", "transient"][index % 2],
                        detail: details[(index + checked) % details.count], worker: worker)
                    let coders = try StoreJSON.encode([attempt])
                    #expect(attempt.logText == coders)
                    #expect(try DeadLetterStore.decodeAttempts(attempt.logText) == [attempt])
                    checked += 1
                }
            }
        }
        #expect(checked == times.count * 6)
    }

    /// (A key twice is not among them: the column is `jsonb`, which keeps one.)
    @Test func storedHeadersAreReadAsTheCodersReadThem() throws {
        let texts = [
            #"{"user-agent": "amoCRM-Webhooks/3.0", "x-b24": "a\"b\\c"}"#, "{}", #"{"k": 1}"#, #"{"k": null}"#, "[]", "not json",
            #"{"ж": "\u00e9/\/"}"#,
        ]
        for text in texts {
            let coders = try? StoreJSON.decode([String: String].self, from: text)
            #expect(StoreJSON.strings(from: text) == coders, "\(text)")
        }
        #expect(StoreJSON.strings(from: texts[0])?["x-b24"] == #"a"b\c"#)
    }
}
