import DealSyncCore
import Testing

/// Random interleavings of multi-field edits on both sides of a whole deal, with MasterDeal refusing writes on
/// a stale `If-Match` (412) whenever the deal changed in any field: every field ends equal on both sides, no
/// edit is lost to a refusal, and the writes stay bounded.
///
/// The seeds are fixed (each run covers the same 1,000 interleavings per case), so a failure replays exactly;
/// `RecordWorld(.init(seed:trace: true))` prints what happened.
struct RecordConvergencePropertyTests {
    static func seed(_ n: Int) -> UInt64 { UInt64(n) &* 0x9E37_79B9_7F4A_7C15 }

    @Test(arguments: [false, true])
    func everyFieldConvergesThroughRefusedWrites(crmCountsSeconds: Bool) {
        var refusals = 0
        for n in 1...1000 {
            var world = RecordWorld(.init(seed: Self.seed(n), crmSecondResolution: crmCountsSeconds))
            world.run()
            refusals += world.refusals
            #expect(world.divergent.isEmpty, "seed \(Self.seed(n)): \(world.divergent)")
            // Measured over 20,000 seeds per clock: at most 1.35 outbox rows per edit with millisecond clocks and
            // 1.62 when amoCRM counts seconds (means 0.97 and 1.11), for both sides and every field of the deal.
            // The README states these bounds; the seeds are fixed, so the check is exact, not a margin.
            let perEdit = crmCountsSeconds ? 1.62 : 1.35
            #expect(
                Double(world.writes) <= perEdit * Double(world.edits.count),
                "seed \(Self.seed(n)): \(world.writes) writes for \(world.edits.count) edits")
        }
        #expect(refusals > 1000, "MasterDeal refused only \(refusals) writes: the model no longer exercises 412")
    }

    @Test func withoutLostDeliveriesEachFieldEndsOnASidesLastValue() {
        for n in 1...1000 {
            var world = RecordWorld(.init(seed: Self.seed(n), loseRate: 0))
            world.run()
            #expect(world.divergent.isEmpty, "seed \(Self.seed(n)): \(world.divergent)")
            for field in RecordWorld.mapping.fields {
                let decided = world.link.fields[field.name]?.decided
                let allowed = Self.winners(of: field, in: world)
                #expect(
                    allowed.isEmpty || allowed.contains { $0 == decided },
                    "seed \(Self.seed(n)): \(field.name) is \(String(describing: decided)), the sides' last values are \(allowed)")
            }
        }
    }

    /// The values the field's rules allow to stand after `world`'s edits (empty when the field was never edited).
    ///
    /// With whole records the rules' exact winner is not always knowable: a change is timed by the stamp of the
    /// first record state that shows it, and a record's stamp moves with every change of any field (ours
    /// included), so a change first seen in a later state of its record is timed later than it was made; and a
    /// side that changed a field and changed it back before either state was seen made no change that can be
    /// seen. The single-field world checks the exact winners; here each field must end on the last value one of
    /// the sides gave it, or for a one-way field the last value its source side gave it (its first value when
    /// only the other side touched it): never an older value, never a value nobody chose, never the wrong side's.
    static func winners(of field: FieldMapping, in world: RecordWorld) -> [FieldValue?] {
        let all = world.editsOf(field)
        guard !all.isEmpty else { return [] }
        let edits = all.filter { field.direction.accepts(changeFrom: $0.side) }
        if edits.isEmpty {
            let transformer = FieldTransformer(field: field, mapping: RecordWorld.mapping)
            return [transformer.masterValue(in: EngineFixtures.masterRecord) ?? transformer.absent(on: .master)]
        }
        // Two edits of one side in the same millisecond cannot be ordered: either may stand.
        func lastEdits(of side: Side) -> [FieldValue?] {
            guard let newest = edits.last(where: { $0.side == side }) else { return [] }
            return edits.filter { $0.side == side && $0.millis == newest.millis }.map(\.value)
        }
        return lastEdits(of: .master) + lastEdits(of: .crm)
    }

    /// The relay's handling before refusals were converged (decide the refetched deal, converge only when it
    /// could not be read) loses edits: the property finds it on most seeds.
    @Test func theOldRefusalHandlingIsCaught() {
        var failures = 0
        for n in 1...200 {
            var world = RecordWorld(.init(seed: UInt64(n), loseRate: 0, refusal: .decideOnly))
            world.run()
            if !world.divergent.isEmpty { failures += 1 }
        }
        #expect(failures > 50, "only \(failures) of 200 seeds caught the old handling")
    }
}
