/// The order a relay sends one round in when the round holds writes of several lanes: lanes in turn, each lane's
/// writes oldest first. A target takes a round's requests a few at a time, so a quiet lane's one write must not be
/// sent after a bursting lane's fifty older ones: it goes in the first few, whatever its age.
public enum LaneTurns {
    /// `items` in turns: the first of every lane, then the second of every lane, and so on; within a turn, lanes in
    /// the order of their first item. Within a lane, items keep the order of `isBefore`.
    public static func interleave<Item>(
        _ items: [Item], lane: (Item) -> String, isBefore: (Item, Item) -> Bool
    ) -> [Item] {
        var byLane: [String: [Item]] = [:]
        for item in items { byLane[lane(item), default: []].append(item) }
        let queues = byLane.values.map { $0.sorted(by: isBefore) }.sorted { isBefore($0[0], $1[0]) }
        var result: [Item] = []
        result.reserveCapacity(items.count)
        var turn = 0
        while result.count < items.count {
            for queue in queues where turn < queue.count { result.append(queue[turn]) }
            turn += 1
        }
        return result
    }
}
