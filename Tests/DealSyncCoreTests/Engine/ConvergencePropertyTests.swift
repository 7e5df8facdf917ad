import DealSyncCore
import PropertyBased
import Testing

/// Random interleavings of edits on both sides, with duplicated, delayed, reordered and lost deliveries,
/// polling and the gateway's own echoes: both sides always end equal, and the writes stay bounded.
struct ConvergencePropertyTests {
    static let rules: [ConflictRule] = [.lww, .priority(.master), .priority(.crm)]

    @Test func bothSidesConvergeWithBoundedWrites() async {
        await propertyCheck(count: 2000, input: Gen.int(in: 0...Int.max), Gen.int(in: 0...2), Gen.bool) { seed, ruleIndex, secondResolution in
            var world = SyncWorld(.init(seed: UInt64(seed), rule: Self.rules[ruleIndex], crmSecondResolution: secondResolution))
            world.run()
            let decided = world.state.decided
            #expect(world.values[.master] == world.values[.crm], "sides differ: \(world.values)")
            #expect(decided == .text(world.values[.master]!), "decided \(String(describing: decided)) but sides hold \(world.values)")
            #expect(world.writes <= 2 * world.edits.count + 2, "\(world.writes) writes for \(world.edits.count) edits")
        }
    }

    @Test func withoutLostDeliveriesTheRulesWinnerIsKept() async {
        await propertyCheck(count: 2000, input: Gen.int(in: 0...Int.max), Gen.int(in: 0...2)) { seed, ruleIndex in
            let rule = Self.rules[ruleIndex]
            var world = SyncWorld(.init(seed: UInt64(seed), rule: rule, loseRate: 0))
            world.run()
            guard let last = world.edits.last else { return }
            switch rule {
            case .lww:
                #expect(world.values[.master] == last.value, "lww lost the last edit \(last)")
            case .priority(let owner) where owner == last.side:
                #expect(world.values[.master] == last.value, "the priority side's last edit was not kept")
            case .priority:
                let winners = [world.edits.last { $0.side == .master }?.value, world.edits.last { $0.side == .crm }?.value]
                #expect(winners.contains(world.values[.master]), "final value is neither side's last edit")
            }
        }
    }
}
