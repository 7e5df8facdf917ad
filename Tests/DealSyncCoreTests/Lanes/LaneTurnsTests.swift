import DealSyncCore
import Testing

/// A relay's round is sent lanes in turn, so a quiet lane's write goes among the first requests.
struct LaneTurnsTests {
    struct Write: Equatable {
        var id: Int
        var lane: String
    }

    static func inTurn(_ writes: [Write]) -> [Int] {
        LaneTurns.interleave(writes, lane: \.lane, isBefore: { $0.id < $1.id }).map(\.id)
    }

    @Test func aQuietLanesWriteGoesSecondNotLast() {
        let burst = (1...50).map { Write(id: $0, lane: "a") }
        let order = Self.inTurn(burst + [Write(id: 900, lane: "b")])
        #expect(order.count == 51)
        #expect(Array(order.prefix(3)) == [1, 900, 2])
        #expect(Array(order.dropFirst(2)) == Array(2...50), "lane a's writes keep their order")
    }

    @Test func lanesTakeTurnsOldestFirstWithinEach() {
        let writes = [
            Write(id: 7, lane: "b"), Write(id: 3, lane: "a"), Write(id: 1, lane: "a"), Write(id: 9, lane: "c"),
            Write(id: 4, lane: "b"), Write(id: 2, lane: "a"),
        ]
        #expect(Self.inTurn(writes) == [1, 4, 9, 2, 7, 3], "turn 1: a, b, c by their oldest; turn 2: a, b; turn 3: a")
    }

    @Test func oneLaneKeepsItsOrderAndNothingIsLostOrRepeated() {
        #expect(Self.inTurn([]) == [])
        let one = [5, 2, 8, 1].map { Write(id: $0, lane: "a") }
        #expect(Self.inTurn(one) == [1, 2, 5, 8])
        var generator = SplitMix64(seed: 13)
        let mixed = (1...200).map { Write(id: $0, lane: ["a", "b", "c", "d"].randomElement(using: &generator)!) }.shuffled(
            using: &generator)
        let order = Self.inTurn(mixed)
        #expect(order.count == 200 && Set(order) == Set(1...200))
    }
}
