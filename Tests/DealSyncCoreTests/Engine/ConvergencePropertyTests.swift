import DealSyncCore
import PropertyBased
import Testing

/// Random interleavings of edits on both sides, with duplicated, delayed, reordered and lost deliveries,
/// polling and the gateway's own echoes: both sides always end equal, and the writes stay bounded.
struct ConvergencePropertyTests {
    static let rules: [ConflictRule] = [.lww, .priority(.master), .priority(.crm)]

    /// Fresh random seeds every run: both sides always end equal on the decided value, and writes never run away.
    /// The guard (3 writes per edit, plus two) is far above anything measured: over 360,000 seeded runs the worst
    /// was 1.67 per edit (plus two) with millisecond clocks and 2.0 when the CRM counts seconds, and a CI run found
    /// 2.1 (pinned below). How many writes an edit costs is checked on fixed seeds, where it cannot flake.
    @Test func bothSidesConvergeAndWritesNeverRunAway() async {
        await propertyCheck(count: 2000, input: Gen.int(in: 0...Int.max), Gen.int(in: 0...2), Gen.bool) {
            seed, ruleIndex, secondResolution in
            var world = SyncWorld(.init(seed: UInt64(seed), rule: Self.rules[ruleIndex], crmSecondResolution: secondResolution))
            world.run()
            let decided = world.state.decided
            #expect(world.values[.master] == world.values[.crm], "sides differ: \(world.values)")
            #expect(decided == .text(world.values[.master]!), "decided \(String(describing: decided)) but sides hold \(world.values)")
            #expect(world.writes <= 3 * world.edits.count + 2, "\(world.writes) writes for \(world.edits.count) edits")
        }
    }

    /// What an edit costs, on 500 fixed seeds per rule and clock: 0.77 writes per edit on average with millisecond
    /// clocks and 0.86 when the CRM counts seconds (worst 1.43 and 1.63), besides the two a run may spend settling;
    /// over 360,000 runs they were 0.77 and 0.87. An extra write per edit anywhere in the engine shows here.
    @Test(arguments: [false, true])
    func writesPerEditOnFixedSeeds(secondResolution: Bool) {
        var writes = 0
        var edits = 0
        var worst = 0.0
        for rule in Self.rules {
            for index in 0..<500 {
                var world = SyncWorld(
                    .init(seed: UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15, rule: rule, crmSecondResolution: secondResolution))
                world.run()
                writes += world.writes - 2
                edits += world.edits.count
                worst = max(worst, Double(world.writes - 2) / Double(world.edits.count))
            }
        }
        let mean = Double(writes) / Double(edits)
        #expect(mean <= (secondResolution ? 0.9 : 0.8), "mean \(mean) writes per edit")
        #expect(worst <= (secondResolution ? 1.7 : 1.5), "worst \(worst) writes per edit")
    }

    /// The runs full suites found above bounds once stated (1.6 and 2.0 per edit): they converge, within the guard.
    @Test(arguments: [
        (UInt64(1_175_328_780_808_947_876), false, 51),
        (UInt64(2_276_475_131_724_932_939), true, 65),
    ])
    func runsThatExceededOldBoundsStayWithinTheGuard(seed: UInt64, secondResolution: Bool, writes: Int) {
        var world = SyncWorld(.init(seed: seed, rule: .lww, crmSecondResolution: secondResolution))
        world.run()
        #expect(world.values[.master] == world.values[.crm])
        #expect(world.edits.count == 30 && world.writes == writes)
        #expect(world.writes <= 3 * world.edits.count + 2)
    }

    @Test func withoutLostDeliveriesTheRulesWinnerIsKept() async {
        await propertyCheck(count: 2000, input: Gen.int(in: 0...Int.max), Gen.int(in: 0...2)) { seed, ruleIndex in
            let rule = Self.rules[ruleIndex]
            var world = SyncWorld(.init(seed: UInt64(seed), rule: rule, loseRate: 0))
            world.run()
            guard let last = world.edits.last else { return }
            // Two edits of one side in the same millisecond carry one stamp and cannot be ordered: either may stand.
            func millis(_ edit: (time: Double, side: Side, value: String)) -> Int64 { Int64(edit.time * 1000) }
            func lastEdits(of side: Side) -> [String] {
                guard let newest = world.edits.last(where: { $0.side == side }) else { return [] }
                return world.edits.filter { $0.side == side && millis($0) == millis(newest) }.map(\.value)
            }
            let final = world.values[.master]!
            switch rule {
            case .lww:
                // The latest source timestamp wins; edits in the same millisecond go to MasterDeal.
                func key(_ edit: (time: Double, side: Side, value: String)) -> (Int64, Int) {
                    (millis(edit), edit.side == .master ? 1 : 0)
                }
                let best = world.edits.map(key).max { $0 < $1 }!
                let winners = world.edits.filter { key($0) == best }.map(\.value)
                #expect(winners.contains(final), "lww lost the last edit \(winners), seed \(seed)")
            case .priority(let owner) where owner == last.side:
                #expect(lastEdits(of: owner).contains(final), "the priority side's last edit was not kept, seed \(seed)")
            case .priority:
                let winners = lastEdits(of: .master) + lastEdits(of: .crm)
                #expect(winners.contains(final), "final value \(final) is neither side's last edit \(winners), seed \(seed), rule \(rule)")
            }
        }
    }
}
