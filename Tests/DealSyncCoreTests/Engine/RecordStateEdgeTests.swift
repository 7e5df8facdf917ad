import DealSyncCore
import Testing

/// Cases the whole-deal property test (``RecordConvergencePropertyTests``) found, pinned one by one. A record's
/// stamp moves when any of its fields changes, ours included, so one field's value can be seen again in a later
/// state of its record without having been edited again.
struct RecordStateEdgeTests {
    typealias E = FieldEngineEdgeTests
    static func md(_ millis: Int64, _ version: Int64) -> SourceStamp { SourceStamp(millis: millis, version: version) }

    /// MasterDeal after its own edit "A" (v19) and our write "B" (v22). A state in between (v20, another field
    /// changed) still holding "A" is the same edit seen again, not an edit our write overwrote.
    @Test func aLaterStateStillHoldingTheSidesLastEditIsNotANewEdit() {
        let engine = E.engine(.lww)
        var state = FieldState(decided: .text("B"), decidedBy: .crm, decidedAt: E.at(2_000))
        state.master = SideState(known: .text("A"), knownAt: Self.md(1_000, 19))
        state.master.lastEdit = .text("A")
        state.master.lastEditAt = Self.md(1_000, 19)
        state.crm = SideState(known: .text("B"), knownAt: E.at(2_000))
        engine.enqueued(.text("B"), to: .master, key: "w1", state: &state)
        _ = engine.confirmed(key: "w1", on: .master, landedAt: Self.md(2_200, 22), value: .text("B"), state: &state)

        let seen = engine.observe(.text("A"), from: .master, at: Self.md(2_100, 20), state: &state)
        #expect(seen.writes.isEmpty && seen.entries.isEmpty)
        #expect(state.decided == .text("B"), "the salesperson's later value stands")
    }

    /// Our write "qualified" landed at v20; MasterDeal's user then set "lost" (v21) and back to "qualified" (v22),
    /// and v22 was seen first. The late "lost" came after our write and was undone by the side itself.
    @Test func anEditMadeAfterOurWriteLandedAndUndoneIsNotRevived() {
        let engine = E.engine(.priority(.master))
        var state = FieldState(decided: .text("qualified"), decidedBy: .crm, decidedAt: E.at(1_900))
        state.master = SideState(known: .text("won"), knownAt: Self.md(1_000, 19))
        state.master.lastEdit = .text("won")
        state.master.lastEditAt = Self.md(1_000, 19)
        state.crm = SideState(known: .text("qualified"), knownAt: E.at(1_900))
        engine.enqueued(.text("qualified"), to: .master, key: "w1", state: &state)
        _ = engine.confirmed(key: "w1", on: .master, landedAt: Self.md(2_000, 20), value: .text("qualified"), state: &state)
        _ = engine.observe(.text("qualified"), from: .master, at: Self.md(2_200, 22), state: &state)

        let late = engine.observe(.text("lost"), from: .master, at: Self.md(2_100, 21), state: &state)
        #expect(late.writes.isEmpty && late.entries.isEmpty)
        #expect(state.decided == .text("qualified"))
    }

    /// Our "won" landed at v23 and MasterDeal still reported it at v27 (other fields changed); then our
    /// "qualified" landed at v28. A late "lead" from v24 lay between our landing and that report: the side undid
    /// it, our write did not overwrite it.
    @Test func anEditInsideASpanTheSideReportedOurValueIsNotRevived() {
        let engine = E.engine(.priority(.master))
        var state = FieldState(decided: .text("won"), decidedBy: .crm, decidedAt: E.at(2_200))
        state.master = SideState(known: .text("lost"), knownAt: Self.md(2_000, 22))
        state.master.lastEdit = .text("lost")
        state.master.lastEditAt = Self.md(2_000, 22)
        state.crm = SideState(known: .text("won"), knownAt: E.at(2_200))
        engine.enqueued(.text("won"), to: .master, key: "w1", state: &state)
        _ = engine.confirmed(key: "w1", on: .master, landedAt: Self.md(2_300, 23), value: .text("won"), state: &state)
        _ = engine.observe(.text("won"), from: .master, at: Self.md(2_700, 27), state: &state)
        // amoCRM moves on; its value goes to MasterDeal.
        let moved = engine.observe(.text("qualified"), from: .crm, at: E.at(2_750), state: &state)
        #expect(moved.writes[.master] == .text("qualified"))
        engine.enqueued(.text("qualified"), to: .master, key: "w2", state: &state)
        _ = engine.confirmed(key: "w2", on: .master, landedAt: Self.md(2_800, 28), value: .text("qualified"), state: &state)

        let late = engine.observe(.text("lead"), from: .master, at: Self.md(2_400, 24), state: &state)
        #expect(late.writes.isEmpty && late.entries.isEmpty)
        #expect(state.decided == .text("qualified"))
    }

    /// amoCRM's own edit "219" (18.9 s), then the salesperson's "368" (20.0 s); our writes "820" and "219" landed
    /// together at 20.2 s and "219" again at 20.5 s. The late "368" was overwritten by us: it is not lost, even
    /// though the newest state before the last write was also ours.
    @Test func anEditOverwrittenByAChainOfOurWritesIsStillDecided() {
        let engine = E.engine(.lww)
        var state = FieldState(decided: .text("219"), decidedBy: .crm, decidedAt: E.at(18_900))
        state.master = SideState(known: .text("219"), knownAt: Self.md(18_950, 21))
        state.crm = SideState(known: .text("219"), knownAt: E.at(18_900))
        state.crm.lastEdit = .text("219")
        state.crm.lastEditAt = E.at(18_900)
        engine.enqueued(.text("820"), to: .crm, key: "w1", state: &state)
        engine.enqueued(.text("219"), to: .crm, key: "w2", state: &state)
        _ = engine.confirmed(key: "w1", on: .crm, landedAt: E.at(20_200), value: .text("219"), state: &state)
        _ = engine.confirmed(key: "w2", on: .crm, landedAt: E.at(20_200), value: .text("219"), state: &state)
        engine.enqueued(.text("219"), to: .crm, key: "w3", state: &state)
        _ = engine.confirmed(key: "w3", on: .crm, landedAt: E.at(20_500), value: .text("219"), state: &state)
        #expect(state.crm.beforeOursAt == E.at(18_900), "the side's own last state, not one of ours")

        let late = engine.observe(.text("368"), from: .crm, at: E.at(20_000), state: &state)
        #expect(state.decided == .text("368"), "the overwritten edit is decided, not lost")
        #expect(late.writes[.crm] == .text("368") && late.writes[.master] == .text("368"))
    }

    /// MasterDeal held "won"; we wrote "lost" (v22); MasterDeal's user set "won" again (v23), and v23 was seen
    /// before our confirmation, so it looked unchanged. The confirmation shows the side changed after our write
    /// landed: an edit made on top of ours, which stands.
    @Test func aConfirmationOlderThanANewerStateWithAnotherValueRevealsAnEdit() {
        let engine = E.engine(.priority(.crm))
        var state = FieldState(decided: .text("lost"), decidedBy: .crm, decidedAt: E.at(2_100))
        state.master = SideState(known: .text("won"), knownAt: Self.md(2_000, 21))
        state.master.lastEdit = .text("won")
        state.master.lastEditAt = Self.md(2_000, 21)
        state.crm = SideState(known: .text("lost"), knownAt: E.at(2_100))
        engine.enqueued(.text("lost"), to: .master, key: "w1", state: &state)
        let unchanged = engine.observe(.text("won"), from: .master, at: Self.md(2_300, 23), state: &state)
        #expect(unchanged.writes.isEmpty, "before the confirmation, v23 looks like the value known before")

        let confirmed = engine.confirmed(key: "w1", on: .master, landedAt: Self.md(2_200, 22), value: .text("lost"), state: &state)
        #expect(state.decided == .text("won") && state.decidedBy == .master, "made after MasterDeal held our value: sequential")
        #expect(confirmed.writes[.crm] == .text("won") && confirmed.writes[.master] == nil)
        #expect(confirmed.entries.isEmpty, "no conflict: the edit came after ours")
    }

    /// amoCRM counts seconds. Our "B" landed in second 30; a state of the same second still holding the
    /// salesperson's last edit "A" is the record just before our write, not an edit undoing it.
    @Test func aStateOfTheTickOurWriteLandedHoldingTheValueBeforeIsNotAnEdit() {
        let engine = E.engine(.priority(.master))
        var state = FieldState(decided: .text("B"), decidedBy: .master, decidedAt: Self.md(29_000, 5))
        state.master = SideState(known: .text("B"), knownAt: Self.md(29_000, 5))
        state.crm = SideState(known: .text("A"), knownAt: SourceStamp(seconds: 11))
        state.crm.lastEdit = .text("A")
        state.crm.lastEditAt = SourceStamp(seconds: 11)
        engine.enqueued(.text("B"), to: .crm, key: "w1", state: &state)
        _ = engine.confirmed(key: "w1", on: .crm, landedAt: SourceStamp(seconds: 30), value: .text("B"), state: &state)

        let tied = engine.observe(.text("A"), from: .crm, at: SourceStamp(seconds: 30), state: &state)
        #expect(state.decided == .text("B") && state.decidedBy == .master)
        #expect(tied.writes == [.crm: .text("B")], "written again so amoCRM ends in a definite state")
        #expect(tied.entries.isEmpty)
    }
}
