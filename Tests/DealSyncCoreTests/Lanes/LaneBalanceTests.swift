import DealSyncCore
import Testing

/// How lanes spread over processes: each round's plan alone, then whole deployments (processes joining and dying)
/// played round by round with the locks modelled, checking that every lane ends up run once and evenly.
struct LaneBalanceTests {
    static let lanes = (1...10).map { "tenant-\($0)" }

    @Test func aLoneProcessTakesEveryLane() {
        var balance = LaneBalance()
        let plan = balance.plan(.init(worker: "a", lanes: Self.lanes, held: [], heldElsewhere: [], otherLoads: []))
        #expect(plan.release.isEmpty)
        #expect(Set(plan.acquire) == Set(Self.lanes))
        #expect(plan.acquireLimit == 10)
    }

    @Test func aProcessUnderItsShareTakesOnlyWhatNobodyHolds() {
        var balance = LaneBalance()
        let elsewhere = Set(Self.lanes.prefix(6))
        let plan = balance.plan(.init(worker: "b", lanes: Self.lanes, held: [], heldElsewhere: elsewhere, otherLoads: [6]))
        #expect(Set(plan.acquire) == Set(Self.lanes.suffix(4)))
        #expect(plan.acquireLimit == 5, "the share of 10 lanes over 2 processes")
        #expect(plan.release.isEmpty)
    }

    @Test func aProcessOverItsShareReleasesWhatTheOthersLack() {
        var balance = LaneBalance()
        // A second process joined with nothing: 10 lanes over 2 is 5 each, so 5 go.
        let plan = balance.plan(.init(worker: "a", lanes: Self.lanes, held: Set(Self.lanes), heldElsewhere: [], otherLoads: [0]))
        #expect(plan.release.count == 5)
        #expect(Set(plan.release).isSubset(of: Set(Self.lanes)))
        #expect(plan.acquire.isEmpty)
    }

    @Test func lanesBeingReleasedCountAgainstWhatTheOthersLack() {
        var balance = LaneBalance()
        let releasing = Set(Self.lanes.prefix(5))
        let plan = balance.plan(
            .init(
                worker: "a", lanes: Self.lanes, held: Set(Self.lanes.suffix(5)), releasing: releasing, heldElsewhere: [],
                otherLoads: [0]))
        #expect(plan.release.isEmpty, "the five on their way out cover the other process's share")
    }

    @Test func nothingIsReleasedWhenNobodyWouldTakeIt() {
        var balance = LaneBalance()
        // 10 lanes, 3 processes: the share is 4. The others are at 4 and 3 (the one at 3 could take one more).
        let plan = balance.plan(
            .init(
                worker: "a", lanes: Self.lanes, held: Set(Self.lanes.prefix(5)), heldElsewhere: Set(Self.lanes.suffix(5)),
                otherLoads: [4, 4]))
        #expect(plan.release.isEmpty, "over the share by one, but every other process is at its share")
    }

    @Test func aLaneNobodyTakesIsTakenAboveTheShareAfterSomeRounds() {
        var balance = LaneBalance(orphanRounds: 3)
        // This process is at its share (5 of 10 over 2); the other one lacks lanes but does not take "tenant-10"
        // (its configuration does not have it).
        let held = Set(Self.lanes.prefix(5))
        let elsewhere = Set(Self.lanes[5..<9])
        let seen = LaneBalance.Observation(worker: "a", lanes: Self.lanes, held: held, heldElsewhere: elsewhere, otherLoads: [4])
        #expect(balance.plan(seen).acquire.isEmpty)
        #expect(balance.plan(seen).acquire.isEmpty)
        let third = balance.plan(seen)
        #expect(third.acquire == ["tenant-10"])
        #expect(third.acquireLimit == 1)
        // Once someone holds it, the count starts again.
        var taken = seen
        taken.heldElsewhere.insert("tenant-10")
        #expect(balance.plan(taken).acquire.isEmpty)
        #expect(balance.plan(seen).acquire.isEmpty, "unheld for one round again, not three")
    }

    @Test func processesReachForDifferentLanesFirst() {
        var a = LaneBalance()
        var b = LaneBalance()
        let lanes = (1...100).map { "tenant-\($0)" }
        let first = a.plan(.init(worker: "host-a:1", lanes: lanes, held: [], heldElsewhere: [], otherLoads: [0]))
        let second = b.plan(.init(worker: "host-b:2", lanes: lanes, held: [], heldElsewhere: [], otherLoads: [0]))
        let overlap = Set(first.acquire.prefix(50)).intersection(second.acquire.prefix(50)).count
        #expect(overlap < 40, "two processes' first choices overlap in \(overlap) of 50 lanes")
    }

    // MARK: Whole deployments

    /// Processes and the lane locks between them, each round every live process planning from what it sees and
    /// applying its plan (a release takes one round to finish, as a lane stops after its in-flight work).
    struct Deployment {
        var lanes: [String]
        var balances: [String: LaneBalance] = [:]
        var holder: [String: String] = [:]
        var leaving: [String: Set<String>] = [:]

        mutating func join(_ worker: String) { balances[worker] = LaneBalance() }

        mutating func kill(_ worker: String) {
            balances[worker] = nil
            leaving[worker] = nil
            holder = holder.filter { $0.value != worker }
        }

        func load(_ worker: String) -> Int { holder.values.count { $0 == worker } }

        mutating func round(order: [String]) {
            for worker in order where balances[worker] != nil {
                // Lanes released last round have stopped: unlocked now.
                for lane in leaving[worker] ?? [] { holder[lane] = nil }
                leaving[worker] = []
                let mine = Set(holder.filter { $0.value == worker }.keys)
                let others = balances.keys.filter { $0 != worker }.sorted()
                let seen = LaneBalance.Observation(
                    worker: worker, lanes: lanes, held: mine, releasing: [],
                    heldElsewhere: Set(holder.filter { $0.value != worker }.keys), otherLoads: others.map { load($0) })
                let plan = balances[worker]!.plan(seen)
                leaving[worker] = Set(plan.release)
                var taken = 0
                for lane in plan.acquire where taken < plan.acquireLimit && holder[lane] == nil {
                    holder[lane] = worker
                    taken += 1
                }
            }
        }

        var settled: Bool {
            let share = (lanes.count + balances.count - 1) / max(1, balances.count)
            return holder.count == lanes.count && balances.keys.allSatisfy { load($0) <= share }
        }
    }

    @Test(arguments: [1, 2, 3, 7])
    func deploymentsSettleEvenlyAfterJoinsAndDeaths(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        var deployment = Deployment(lanes: (1...100).map { "tenant-\($0)" })
        var workers = ["w0", "w1", "w2"]
        for worker in workers { deployment.join(worker) }
        var rounds = 0
        for event in 0..<12 {
            // Rounds in a random order each time, as processes look at different moments.
            var settledAfter: Int?
            for round in 1...10 {
                deployment.round(order: workers.shuffled(using: &random))
                rounds += 1
                if deployment.settled {
                    settledAfter = round
                    break
                }
            }
            #expect(settledAfter != nil, "event \(event): not settled in 10 rounds (\(workers.map { deployment.load($0) }))")
            #expect(deployment.holder.count == 100, "every lane is run")
            if random.next() % 2 == 0 || workers.count == 1 {
                let worker = "w\(3 + event)"
                workers.append(worker)
                deployment.join(worker)
            } else {
                let victim = workers.remove(at: Int(random.next() % UInt64(workers.count)))
                deployment.kill(victim)
            }
        }
        #expect(rounds > 12)
    }

    @Test func threeProcessesOfAHundredLanesRunAtMostThirtyFourEach() {
        var deployment = Deployment(lanes: (1...100).map { "tenant-\($0)" })
        // The first process starts alone and takes everything; two join later.
        deployment.join("a")
        deployment.round(order: ["a"])
        #expect(deployment.load("a") == 100)
        deployment.join("b")
        deployment.join("c")
        for _ in 0..<4 { deployment.round(order: ["b", "c", "a"]) }
        #expect(deployment.settled)
        #expect(["a", "b", "c"].map { deployment.load($0) }.max()! <= 34)
        deployment.kill("b")
        for _ in 0..<3 { deployment.round(order: ["c", "a"]) }
        #expect(deployment.holder.count == 100)
        #expect(["a", "c"].map { deployment.load($0) } == [50, 50])
    }
}
