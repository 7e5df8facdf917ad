import DealSyncCore
import Foundation
import Synchronization

/// The parsed field states of the links this process read or wrote last, each with the exact text it was parsed
/// from: a link's document read back unchanged (a relay recording the outcome of a write a lane just decided, the
/// echo of that write) is not parsed again. A pure memo: an entry serves only a text byte for byte equal to its own,
/// so a document written since, by this process or another, or a transaction that rolled back, is simply parsed.
///
/// Bounded by the text it holds (the parsed states take a few times as much): the oldest entries go first.
final class FieldStateMemo: Sendable {
    private struct Entry {
        var text: String
        var states: [String: FieldState]
        /// When it was remembered: its listing in `order` is the one with this number.
        var serial: Int
    }

    private struct State {
        var entries: [Int64: Entry] = [:]
        /// Links in the order they were remembered, oldest at `head`. A link remembered again is listed again; its
        /// older listing no longer matches its entry's serial and is skipped.
        var order: [(link: Int64, serial: Int)] = []
        var head = 0
        var serial = 0
        var bytes = 0
        var hits = 0
        var misses = 0
    }

    /// The most text the memo holds, in bytes.
    let budget: Int
    private let state = Mutex(State())

    init(budget: Int = 4 << 20) { self.budget = budget }

    /// The states of `link` stored as `text`: the memo's when it holds that very text, else parsed and remembered.
    func states(link: Int64, text: String) throws(JSONShapeError) -> [String: FieldState] {
        let held = state.withLock { s -> [String: FieldState]? in
            guard let entry = s.entries[link], Self.sameBytes(entry.text, text) else {
                s.misses += 1
                return nil
            }
            s.hits += 1
            return entry.states
        }
        if let held { return held }
        let states = try FieldState.states(jsonText: text)
        remember(link: link, text: text, states: states)
        return states
    }

    /// Records that `link`'s document is `text`, whose parse is `states` (a session writing it back).
    func remember(link: Int64, text: String, states: [String: FieldState]) {
        let size = text.utf8.count
        guard size <= budget / 4 else { return }
        state.withLock { s in
            s.serial += 1
            if let old = s.entries.updateValue(Entry(text: text, states: states, serial: s.serial), forKey: link) {
                s.bytes -= old.text.utf8.count
            }
            s.bytes += size
            s.order.append((link, s.serial))
            while s.bytes > budget, s.head < s.order.count {
                let (oldest, serial) = s.order[s.head]
                s.head += 1
                if let entry = s.entries[oldest], entry.serial == serial {
                    s.entries[oldest] = nil
                    s.bytes -= entry.text.utf8.count
                }
            }
            // The listings evicted are dropped once they are half of them; listings of links remembered again since,
            // which pile up while nothing is evicted, once they outnumber the entries twice over.
            if s.head > 1024, s.head * 2 > s.order.count {
                s.order.removeFirst(s.head)
                s.head = 0
            }
            if s.order.count - s.head > 2 * s.entries.count + 1024 {
                let entries = s.entries
                s.order = s.order[s.head...].filter { entries[$0.link]?.serial == $0.serial }
                s.head = 0
            }
        }
    }

    /// How many reads the memo answered and how many it parsed.
    var counts: (hits: Int, misses: Int) { state.withLock { ($0.hits, $0.misses) } }

    /// The links it holds, the bytes of their text, and the listings it keeps (evicted and stale ones included).
    var size: (links: Int, bytes: Int, listings: Int) { state.withLock { ($0.entries.count, $0.bytes, $0.order.count) } }

    private static func sameBytes(_ a: String, _ b: String) -> Bool {
        var a = a, b = b
        return a.withUTF8 { a in
            b.withUTF8 { b in a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0) }
        }
    }
}
