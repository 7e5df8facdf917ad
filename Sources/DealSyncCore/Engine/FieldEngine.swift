/// The conflict rules for one field, as an I/O-free state machine over ``FieldState``.
///
/// Implements the semantics of ARCHITECTURE.md ("Conflict semantics"): stale and duplicate observations are
/// dropped, echoes of our own writes are consumed, real changes are decided (sequential, or concurrent by the
/// field's rule), and every side whose projected value differs from the decided value gets a write.
public struct FieldEngine: Sendable {
    public let transformer: FieldTransformer

    public init(transformer: FieldTransformer) {
        self.transformer = transformer
    }

    var field: FieldMapping { transformer.field }

    /// What processing one input did to a field.
    public struct Outcome: Sendable, Equatable {
        /// Values to write, per side, in that side's representation.
        public var writes: [Side: FieldValue] = [:]
        public var entries: [DivergenceEntry] = []
        /// Why the state did what it did, for `dealsync explain`.
        public var explanation: String = ""
    }

    // MARK: Observations

    /// Processes one side's value of this field at `stamp`.
    public func observe(_ value: FieldValue, from side: Side, at stamp: SourceStamp, state: inout FieldState) -> Outcome {
        var outcome = Outcome()
        var current = state[side]

        // 1. Stale or duplicate: we know a state of this side at least as new.
        if let knownAt = current.knownAt, stamp < knownAt || (stamp == knownAt && value == current.known) {
            // A record's stamp moves when any of its fields changes: a state newer than the side's last real edit
            // that still holds that edit's value is the same edit, seen in a later state of the record.
            let overwrittenEdit =
                stamp < knownAt && current.knownIsOurs && stamp < (current.oursSince ?? knownAt)
                && current.beforeOursAt.map { stamp > $0 } ?? true && !current.undoneBySide(stamp)
                && current.lastEditAt.map { stamp > $0 } ?? true && !current.written.contains(value)
                && (current.lastEditAt == nil || value != current.lastEdit)
            guard overwrittenEdit else {
                outcome.explanation =
                    stamp == knownAt ? "duplicate of the newest known state: ignored" : "older than the newest known state: ignored"
                return outcome
            }
            // A real edit our in-flight write then overwrote: not lost. Made after this side's own decided edit, it
            // follows that edit; otherwise it is concurrent with the decided value.
            if state.decidedBy == side, let decidedAt = state.decidedAt, stamp <= decidedAt {
                outcome.explanation = "older than this side's decided edit: ignored"
                return outcome
            }
            current.lastEditAt = stamp
            current.lastEdit = value
            state[side] = current
            decide(value, from: side, at: stamp, sequential: state.decidedBy == side, state: &state, outcome: &outcome)
            outcome.explanation = "an edit our own write overwrote: decided, not lost. " + outcome.explanation
            return outcome
        }

        // A state at the same stamp as the newest known one, with another value: the side's clock cannot order
        // them (amoCRM and Bitrix24 count seconds). Whatever is decided, write it there again so the side ends in
        // a state that is definitely newer.
        let tie = current.knownAt.map { $0 == stamp } ?? false
        if tie, current.written.contains(value), !current.knownIsOurs {
            // Our own write tied with a real edit: the edit stands, and the side is made definite.
            forceWrite(on: side, state: state, outcome: &outcome)
            outcome.explanation = "our write and an edit share one timestamp: the edit stands and is written again"
            return outcome
        }
        if tie, current.knownIsOurs, !current.pending.contains(where: { $0.value == value }),
            current.written.contains(value) || (current.lastEditAt.map { $0 < stamp } ?? false && value == current.lastEdit)
        {
            // Our write landed in the same tick as a state that still holds the side's last edit, or an earlier
            // write of ours (not one still on its way: that is its echo): most likely the record as it was just
            // before that write (another field changed in
            // that tick), not an edit undoing it. The decided value stands and is written again, so the side ends
            // in a definite state.
            forceWrite(on: side, state: state, outcome: &outcome)
            outcome.explanation =
                "a state from the tick our write landed, holding what the side held before it: taken for the state before our write"
            return outcome
        }
        defer { if tie { forceWrite(on: side, state: state, outcome: &outcome) } }

        // 2. Echo: one of our pending writes came back; it and every earlier pending write are behind us. Not when
        //    this is a repeat of the side's newest real edit (a webhook delivered twice, after a write of ours was
        //    confirmed at that same stamp): a write of ours with that value may still be queued behind others.
        let repeatsLastEdit = current.lastEditAt == stamp && current.lastEdit == value
        if !repeatsLastEdit, let index = current.pending.firstIndex(where: { $0.value == value }) {
            let landed = current.pending[index].landedAt ?? stamp
            current.pending.removeFirst(index + 1)
            current.holdOurs(value, knownAt: stamp, landedAt: landed)
            if let decided = state.decided, current.heldSince == nil, transformer.agrees(value, on: side, with: decided) {
                current.heldSince = landed
            }
            state[side] = current
            outcome.explanation = "echo of our own write: nothing to propagate"
            return outcome
        }

        // 3. The same value at a newer time (records carry every field): no change, unless a write of ours
        //    landed in between and the side is back at this value.
        if let known = current.known, known == value {
            let overtaken = current.pending.contains { $0.landedAt.map { $0 < stamp } ?? false }
            current.knownAt = stamp
            current.reportOurs(at: stamp)
            if !overtaken {
                state[side] = current
                outcome.explanation = "unchanged on \(side)"
                return outcome
            }
        }

        // 4. A real change.
        recordEdit(value, from: side, at: stamp, state: &state, outcome: &outcome)
        return outcome
    }

    /// Records a real edit of `side` and decides it.
    private func recordEdit(
        _ value: FieldValue, from side: Side, at stamp: SourceStamp, state: inout FieldState,
        outcome: inout Outcome
    ) {
        var current = state[side]
        current.edited(value, at: stamp)
        current.pending.removeAll { $0.landedAt.map { $0 < stamp } ?? false }
        state[side] = current
        guard let decided = state.decided, !transformer.agrees(value, on: side, with: decided) else {
            if state.decided == nil {
                decide(value, from: side, at: stamp, sequential: true, state: &state, outcome: &outcome)
            } else {
                outcome.explanation = "changed on \(side) to the decided value: converged"
            }
            return
        }
        // Sequential when the side already held the decided value at the time of the edit. Stamps of amoCRM and
        // Bitrix24 count seconds: an edit in the same second our write landed, seen after it, was made on top of it.
        let sequential =
            state.decidedBy == nil || state.decidedBy == side
            || (current.heldSince.map { $0 <= stamp } ?? false)
        decide(value, from: side, at: stamp, sequential: sequential, state: &state, outcome: &outcome)
    }

    /// Seeds a side's known state without deciding anything (a record adopted through its link field).
    public func seed(_ value: FieldValue, on side: Side, at stamp: SourceStamp?, state: inout FieldState) {
        state[side].known = value
        state[side].knownAt = stamp
    }

    // MARK: Deciding

    private func decide(
        _ value: FieldValue, from side: Side, at stamp: SourceStamp, sequential: Bool,
        state: inout FieldState, outcome: inout Outcome
    ) {
        if !field.direction.accepts(changeFrom: side) {
            if let decided = state.decided {
                outcome.entries.append(
                    entry(
                        .oneWayViolation, side: side, value: value, stamp: stamp, state: state,
                        rule: "direction:\(field.direction.rawValue)", winner: side.other,
                        outcome: "kept the \(side.other) value and wrote it back to \(side)",
                        decided: decided))
                outcome.explanation = "\(side) may not change a \(field.direction.rawValue) field: the decided value is written back"
            } else {
                outcome.explanation = "\(side) may not change a \(field.direction.rawValue) field; no decided value to write back yet"
            }
            converge(&state, outcome: &outcome)
            return
        }
        let canonical: FieldValue
        switch transformer.canonical(value, from: side) {
        case .success(let c): canonical = c
        case .failure(let unmapped):
            outcome.entries.append(
                DivergenceEntry(
                    kind: .unmappedValue, field: field.name,
                    masterValue: side == .master ? value : state.decided, crmValue: side == .crm ? value : state.crm.known,
                    masterAt: side == .master ? stamp : state.master.knownAt, crmAt: side == .crm ? stamp : state.crm.knownAt,
                    rule: field.transform.name, outcome: "not synced: \(unmapped.description)"))
            outcome.explanation = "no canonical value: \(unmapped.description)"
            return
        }
        if sequential {
            adopt(canonical, from: side, at: stamp, state: &state)
            outcome.explanation = "\(side) changed it after seeing the decided value: \(side)'s value is decided"
        } else if let decided = state.decided, let decidedBy = state.decidedBy {
            let wins: Bool
            switch field.conflict {
            case .priority(let owner):
                wins = owner == side
            case .lww:
                let other = state.decidedAt?.millis ?? .min
                wins = stamp.millis > other || (stamp.millis == other && side == .master)
            }
            let winner = wins ? side : decidedBy
            outcome.entries.append(
                entry(
                    .conflict, side: side, value: value, stamp: stamp, state: state,
                    rule: field.conflict.description, winner: winner,
                    outcome: "kept the \(winner) value", decided: decided))
            if wins { adopt(canonical, from: side, at: stamp, state: &state) }
            outcome.explanation = "concurrent with \(decidedBy)'s change; \(field.conflict) keeps the \(winner) value"
        }
        converge(&state, outcome: &outcome)
    }

    private func adopt(_ canonical: FieldValue, from side: Side, at stamp: SourceStamp, state: inout FieldState) {
        state.decided = canonical
        state.decidedBy = side
        state.decidedAt = stamp
        state.master.heldSince = nil
        state.crm.heldSince = nil
    }

    private func entry(
        _ kind: DivergenceEntry.Kind, side: Side, value: FieldValue, stamp: SourceStamp, state: FieldState,
        rule: String, winner: Side, outcome: String, decided: FieldValue
    ) -> DivergenceEntry {
        let otherValue: FieldValue? =
            side == .crm ? decided : (try? transformer.toCRM(decided).get()) ?? state.crm.known
        let otherStamp = state.decidedBy == side.other ? state.decidedAt : state[side.other].knownAt
        return DivergenceEntry(
            kind: kind, field: field.name,
            masterValue: side == .master ? value : otherValue, crmValue: side == .crm ? value : otherValue,
            masterAt: side == .master ? stamp : otherStamp, crmAt: side == .crm ? stamp : otherStamp,
            rule: rule, winner: winner, outcome: outcome)
    }

    // MARK: Converging

    /// Enqueues the decided value for every side whose projected value differs from it.
    public func converge(_ state: inout FieldState, outcome: inout Outcome) {
        guard let decided = state.decided else { return }
        for side in Side.allCases where field.direction.accepts(changeFrom: side.other) {
            if let projected = state[side].projected, transformer.agrees(projected, on: side, with: decided) { continue }
            switch transformer.project(decided, to: side) {
            case .success(let value):
                outcome.writes[side] = value
            case .failure(let unmapped):
                outcome.entries.append(
                    DivergenceEntry(
                        kind: .unmappedValue, field: field.name, masterValue: decided, crmValue: state.crm.known,
                        masterAt: state.decidedAt, crmAt: state.crm.knownAt, rule: field.transform.name,
                        outcome: "not written to \(side): \(unmapped.description)"))
            }
        }
    }

    private func forceWrite(on side: Side, state: FieldState, outcome: inout Outcome) {
        guard field.direction.accepts(changeFrom: side.other), let decided = state.decided,
            case .success(let value) = transformer.project(decided, to: side)
        else { return }
        outcome.writes[side] = value
    }

    /// Records that a write is on its way (called once the outbox row exists).
    public func enqueued(_ value: FieldValue, to side: Side, key: String, state: inout FieldState) {
        state[side].pending.append(PendingWrite(value: value, key: key))
        state[side].remember(written: value)
    }

    // MARK: Delivery results

    /// The target confirmed the write with `key`; `landedAt` is its new stamp when the target said, and `value`
    /// this field's value in the write (nil when the write did not carry the field).
    ///
    /// Returns writes when the confirmation shows a newer state already overtook our write.
    public func confirmed(
        key: String, on side: Side, landedAt: SourceStamp?, value written: FieldValue? = nil,
        state: inout FieldState
    ) -> Outcome {
        var outcome = Outcome()
        var current = state[side]
        guard let index = current.pending.firstIndex(where: { $0.key == key }) else {
            if let written, let landedAt { settleForgotten(written, on: side, landedAt: landedAt, state: &state, outcome: &outcome) }
            return outcome
        }
        let value = current.pending[index].value
        guard let landedAt else {
            return outcome
        }
        current.pending[index].landedAt = landedAt
        if let knownAt = current.knownAt, landedAt < knownAt {
            // A newer state of the side is already known: this write can never come back.
            current.pending.remove(at: index)
            state[side] = current
            if let known = current.known, known != value, current.lastEditAt.map({ $0 < knownAt }) ?? true {
                // That newer state holds another value, so the side changed after our write landed: an edit made
                // on top of ours, reported before this confirmation (it then looked like the value known before
                // our write, unchanged). It is decided now, as made when that state was.
                if let decided = state.decided, state[side].heldSince == nil, transformer.agrees(value, on: side, with: decided) {
                    state[side].heldSince = landedAt
                }
                recordEdit(known, from: side, at: knownAt, state: &state, outcome: &outcome)
                outcome.explanation = "the side changed after our write landed: " + outcome.explanation
            }
            converge(&state, outcome: &outcome)
            return outcome
        }
        current.pending.removeFirst(index + 1)
        current.holdOurs(value, knownAt: landedAt, landedAt: landedAt)
        if let decided = state.decided, current.heldSince == nil, transformer.agrees(value, on: side, with: decided) {
            current.heldSince = landedAt
        }
        state[side] = current
        return outcome
    }

    /// A confirmed write no longer pending: its echo came first, or an observation carrying the same value was
    /// taken for its echo and the writes before it were dropped with it. The side still held `value` at
    /// `landedAt`; when that is the newest state known, it is recorded as ours, so the write's own echo is not
    /// mistaken later for a real edit made at the time the write landed.
    private func settleForgotten(
        _ value: FieldValue, on side: Side, landedAt: SourceStamp, state: inout FieldState,
        outcome: inout Outcome
    ) {
        var current = state[side]
        if let knownAt = current.knownAt, landedAt < knownAt || (landedAt == knownAt && !current.knownIsOurs) { return }
        current.holdOurs(value, knownAt: landedAt, landedAt: landedAt)
        current.remember(written: value)
        if let decided = state.decided, current.heldSince == nil, transformer.agrees(value, on: side, with: decided) {
            current.heldSince = landedAt
        }
        state[side] = current
        converge(&state, outcome: &outcome)
    }

    /// The write with `key` will never land (dead-lettered or superseded): forget it.
    public func abandoned(key: String, on side: Side, state: inout FieldState) {
        state[side].pending.removeAll { $0.key == key }
    }
}
