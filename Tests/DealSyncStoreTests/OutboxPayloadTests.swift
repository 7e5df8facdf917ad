import DealSyncCore
import DealSyncStore
import Foundation
import Testing

/// The payload's own reader and writer and its `Codable` form are the same document: rows written before either
/// read the same, whichever wrote them.
struct OutboxPayloadTests {
    static let every: [String: FieldValue] = [
        "name": .text("Сочи, 7 ночей \"люкс\" \\ / \u{1F3D6}"), "empty": .text(""), "price": .integer(-150_001),
        "ratio": .decimal(Decimal(string: "0.125")!), "paid": .bool(true), "gone": .null,
        "amount": .money(Money(amount: Decimal(string: "150000.50")!, currency: "RUB")), "due": .time(1_767_200_000),
        "custom_fields.900001": .text("md-1"),
    ]

    /// The own text read by `Codable`, the `Codable` text read by the own reader, and the own text read back.
    static func readsTheSameEitherWay(_ payload: OutboxPayload) throws {
        let own = payload.jsonText
        #expect(try JSONDecoder().decode(OutboxPayload.self, from: Data(own.utf8)) == payload)
        let codable = String(decoding: try JSONEncoder().encode(payload), as: UTF8.self)
        #expect(try OutboxPayload(jsonText: codable) == payload)
        #expect(try OutboxPayload(jsonText: own) == payload)
    }

    @Test func itsOwnTextAndTheCodableFormReadTheSame() throws {
        try Self.readsTheSameEitherWay(OutboxPayload(values: Self.every))
    }

    @Test(arguments: [
        DecidedWrite(target: "tour", connector: "tour", linkID: 42, recordID: "31000001"),
        DecidedWrite(target: "masterdeal", connector: "fitness", linkID: 7, recordID: nil),
    ])
    func aDecisionFeedRowReadsTheSameEitherWay(decided: DecidedWrite) throws {
        try Self.readsTheSameEitherWay(OutboxPayload(values: ["stage": .text("proposal")], decided: decided))
    }

    @Test(arguments: [
        #"{"values": {}, "decided": {"target": "tour"}}"#,
        "", "[]", #"{"values": 1}"#, #"{"values": {"a": {"colour": "red"}}}"#,
        #"{"values": {"a": {"money": {"amount": "x", "currency": "RUB"}}}}"#,
    ])
    func aPayloadOfAnotherShapeIsRefused(text: String) {
        #expect(throws: JSONShapeError.self) { try OutboxPayload(jsonText: text) }
    }
}
