import DealSyncCore
import Testing

/// Cases found by the convergence property test, pinned down one by one.
struct FieldEngineEdgeTests {
    static func engine(_ rule: ConflictRule) -> FieldEngine {
        let field = FieldMapping(name: "title", master: "opportunity_name", crm: "name", conflict: rule)
        let mapping = Mapping(
            name: "m", crm: .amocrm, pipeline: 1, linkField: "custom_fields.1", fields: [field],
            stages: StageMatrix(entries: []), owners: OwnerDirectory(entries: []))
        return FieldEngine(transformer: FieldTransformer(field: field, mapping: mapping))
    }

    static func at(_ millis: Int64) -> SourceStamp { SourceStamp(millis: millis) }

    /// A real CRM edit equal to a write still queued, in the same millisecond as our previous write landed, is
    /// taken for that write's echo, and the queued writes before it are dropped with it. When those writes land,
    /// their confirmations must still teach the engine what the CRM held, or their echoes later look like edits
    /// made at landing time — and win by last-write-wins against newer real edits.
    @Test func aConfirmationOfAForgottenWriteStillRecordsWhatTheSideHeld() {
        let engine = Self.engine(.lww)
        var state = FieldState(decided: .text("c"), decidedBy: .master, decidedAt: SourceStamp(millis: 900, version: 3))
        state.master = SideState(known: .text("c"), knownAt: SourceStamp(millis: 900, version: 3))
        state.crm = SideState(known: .text("x"), knownAt: Self.at(1_000))
        state.crm.knownIsOurs = true
        engine.enqueued(.text("b"), to: .crm, key: "w1", state: &state)
        engine.enqueued(.text("c"), to: .crm, key: "w2", state: &state)

        // The edit "c" at the very millisecond of our last landing: indistinguishable from w2's echo.
        _ = engine.observe(.text("c"), from: .crm, at: Self.at(1_000), state: &state)
        #expect(state.crm.pending.isEmpty, "taken for the echo of w2, dropping w1 with it")

        // w1 lands after all, at 2.0 s: the CRM held "b" then, by our hand.
        let landed = engine.confirmed(key: "w1", on: .crm, landedAt: Self.at(2_000), value: .text("b"), state: &state)
        #expect(state.crm.known == .text("b") && state.crm.knownAt == Self.at(2_000) && state.crm.knownIsOurs)
        #expect(landed.writes[.crm] == .text("c"), "the CRM holds a stale value of ours: the decided value goes back")

        // w1's echo is recognised as ours: the decided value stays MasterDeal's.
        let echo = engine.observe(.text("b"), from: .crm, at: Self.at(2_000), state: &state)
        #expect(echo.entries.isEmpty)
        #expect(state.decided == .text("c") && state.decidedBy == .master)
    }

    /// A confirmation that carries no value for this field, or lands before what is known, changes nothing.
    @Test func aForgottenConfirmationOlderThanWhatIsKnownIsIgnored() {
        let engine = Self.engine(.lww)
        var state = FieldState(decided: .text("c"), decidedBy: .crm, decidedAt: Self.at(3_000))
        state.crm = SideState(known: .text("c"), knownAt: Self.at(3_000))
        let before = state
        _ = engine.confirmed(key: "gone", on: .crm, landedAt: Self.at(2_000), value: .text("b"), state: &state)
        _ = engine.confirmed(key: "gone", on: .crm, landedAt: Self.at(4_000), value: nil, state: &state)
        #expect(state == before)
    }

    /// Our stale write overwrote a CRM edit; the edit arrives late. It followed the CRM's own decided edit, so it
    /// is a sequential change and stands — even when MasterDeal has priority — rather than losing to that older
    /// CRM edit as if the two sides had edited concurrently.
    @Test func anOverwrittenEditAfterTheSameSidesDecidedEditStands() {
        let engine = Self.engine(.priority(.master))
        var state = FieldState(decided: .text("v27"), decidedBy: .crm, decidedAt: Self.at(29_654))
        state.master = SideState(known: .text("v27"), knownAt: SourceStamp(millis: 30_780, version: 21))
        state.crm = SideState(known: .text("v25"), knownAt: Self.at(30_365))
        state.crm.knownIsOurs = true
        state.crm.lastEditAt = Self.at(29_654)
        state.crm.written = [.text("v25"), .text("v27")]

        let older = engine.observe(.text("v26"), from: .crm, at: Self.at(29_568), state: &state)
        #expect(older.writes.isEmpty && state.decided == .text("v27"), "older than the CRM's decided edit: ignored")

        let late = engine.observe(.text("v29"), from: .crm, at: Self.at(30_114), state: &state)
        #expect(state.decided == .text("v29") && state.decidedBy == .crm)
        #expect(late.writes[.master] == .text("v29") && late.writes[.crm] == .text("v29"))
        #expect(late.entries.isEmpty, "no conflict: the CRM changed its own value")
    }

    /// A webhook delivered twice, the second time after a write of ours was confirmed at the same stamp as the
    /// edit it reports: a repeat of that edit, not the echo of a write of ours with the same value still queued
    /// behind others (taking it for one forgot those writes, and one of them later passed for a fresh edit).
    @Test func aRepeatedEditIsNotTakenForTheEchoOfAQueuedWriteOfTheSameValue() {
        let engine = Self.engine(.priority(.crm))
        var state = FieldState(decided: .text("a"), decidedBy: .master, decidedAt: SourceStamp(millis: 500, version: 2))
        state.master = SideState(known: .text("a"), knownAt: SourceStamp(millis: 500, version: 2))
        state.crm = SideState(known: .text("a"), knownAt: Self.at(600))
        // Writes of ours are queued for the CRM when a salesperson's edit "b" arrives; "b" is decided and queued last.
        engine.enqueued(.text("x"), to: .crm, key: "w1", state: &state)
        let edit = engine.observe(.text("b"), from: .crm, at: Self.at(1_000), state: &state)
        #expect(state.decided == .text("b"))
        for (side, value) in edit.writes { engine.enqueued(value, to: side, key: "w2-\(side)", state: &state) }
        #expect(state.crm.pending.map(\.key) == ["w1", "w2-crm"])
        // w1 is confirmed as landing at the very stamp of the edit; then the edit's webhook arrives again.
        _ = engine.confirmed(key: "w1", on: .crm, landedAt: Self.at(1_000), value: .text("x"), state: &state)
        let repeated = engine.observe(.text("b"), from: .crm, at: Self.at(1_000), state: &state)
        #expect(repeated.writes[.master] == nil, "nothing new for MasterDeal")
        #expect(state.decided == .text("b"))
        #expect(state.crm.pending.map(\.key) == ["w2-crm"], "the queued write of the same value is still expected back")
    }

    /// The seeds that found these cases replay to the rules' winners.
    @Test(arguments: [
        (UInt64(588_920_603_887_052_811), 0, "v29"), (UInt64(838_524_847_975_230_535), 1, "v29"),
        (UInt64(3_900_833_030_838_823_862), 2, "v28"),
    ])
    func theSeedsThatFoundThemConverge(seed: UInt64, rule: Int, winner: String) {
        var world = SyncWorld(.init(seed: seed, rule: ConvergencePropertyTests.rules[rule], loseRate: 0))
        world.run()
        #expect(world.values[.master] == winner && world.values[.crm] == winner)
    }
}
