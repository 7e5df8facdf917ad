/// Which connector lanes one `serve` process should let go of and which it should try to take, so the lanes of
/// a deployment spread over the processes present: each takes about its share (lanes ÷ processes), hands extra
/// lanes over when a process joins, and takes over a dead process's lanes.
///
/// A pure state machine: the process observes who holds which lane (``Observation``), asks for a ``Plan`` and
/// does the locking itself. The lock on a lane stays the guard that no lane runs twice; this only decides who
/// asks for it.
///
/// - A process over its share releases lanes only while another process is under its share (someone will take
///   them), and never more than those processes lack.
/// - A process under its share tries the lanes nobody holds, most preferred first (a stable weight of the process
///   and the lane, so processes reach for different lanes and a restarted one tends to get its own back).
/// - A lane nobody has held for ``orphanRounds`` rounds in a row is tried even above the share: the process
///   that would take it may not know it (a configuration that differs between processes during a rollout).
public struct LaneBalance: Sendable {
    /// Rounds a lane may stay unheld before a process at or above its share takes it anyway.
    public let orphanRounds: Int
    /// Lane → consecutive rounds it was seen unheld.
    private var unheldRounds: [String: Int] = [:]

    public init(orphanRounds: Int = 3) {
        self.orphanRounds = max(1, orphanRounds)
    }

    /// What a process sees in one round.
    public struct Observation: Sendable, Equatable {
        /// This process's name (the tie-breaking weight).
        public var worker: String
        /// The lanes this process can run (its configured connectors).
        public var lanes: [String]
        /// Lanes this process holds and runs, not counting those it is releasing.
        public var held: Set<String>
        /// Lanes this process is releasing (still locked while their work ends).
        public var releasing: Set<String>
        /// Lanes held by anyone else, whether a lane host or not.
        public var heldElsewhere: Set<String>
        /// How many lanes each other lane host holds (one entry per other process).
        public var otherLoads: [Int]

        public init(
            worker: String, lanes: [String], held: Set<String>, releasing: Set<String> = [], heldElsewhere: Set<String>,
            otherLoads: [Int]
        ) {
            self.worker = worker
            self.lanes = lanes
            self.held = held
            self.releasing = releasing
            self.heldElsewhere = heldElsewhere
            self.otherLoads = otherLoads
        }

        /// Lane hosts present, this one included.
        public var hosts: Int { otherLoads.count + 1 }

        /// The most lanes a process should run: lanes ÷ hosts, rounded up.
        public var share: Int {
            let total = Set(lanes).count
            return (total + hosts - 1) / hosts
        }
    }

    /// What to do this round.
    public struct Plan: Sendable, Equatable {
        /// Lanes to stop (after their in-flight work) and unlock.
        public var release: [String]
        /// Lanes to try to lock, in order; stop trying once ``acquireLimit`` were taken.
        public var acquire: [String]
        /// How many of ``acquire`` to take at most.
        public var acquireLimit: Int

        public init(release: [String] = [], acquire: [String] = [], acquireLimit: Int = 0) {
            self.release = release
            self.acquire = acquire
            self.acquireLimit = acquireLimit
        }
    }

    /// Decides one round from what the process sees now.
    public mutating func plan(_ seen: Observation) -> Plan {
        let lanes = Array(Set(seen.lanes)).sorted()
        let unheld = lanes.filter { !seen.held.contains($0) && !seen.releasing.contains($0) && !seen.heldElsewhere.contains($0) }
        var rounds: [String: Int] = [:]
        for lane in unheld { rounds[lane] = (unheldRounds[lane] ?? 0) + 1 }
        unheldRounds = rounds

        let share = seen.share
        let running = seen.held.count
        let byPreference = { (names: [String]) in
            names.sorted { Self.weight(seen.worker, $0) > Self.weight(seen.worker, $1) }
        }
        var plan = Plan()
        if running > share {
            // Someone under its share will take what is let go; what is being released already counts.
            let lacking = seen.otherLoads.reduce(0) { $0 + max(0, share - $1) } - seen.releasing.count
            let count = min(running - share, max(0, lacking))
            if count > 0 { plan.release = Array(byPreference(Array(seen.held)).reversed().prefix(count)) }
        }
        if running < share {
            plan.acquire = byPreference(unheld)
            plan.acquireLimit = share - running
        } else {
            plan.acquire = byPreference(unheld.filter { (rounds[$0] ?? 0) >= orphanRounds })
            plan.acquireLimit = plan.acquire.count
        }
        return plan
    }

    /// The stable preference of `worker` for `lane` (FNV-1a over both names): the same on every machine and run.
    static func weight(_ worker: String, _ lane: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in worker.utf8 + [0] + lane.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        // FNV's low bits mix poorly for short keys that differ in their last byte; one more round of mixing.
        hash ^= hash >> 33
        hash = hash &* 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        return hash
    }
}
