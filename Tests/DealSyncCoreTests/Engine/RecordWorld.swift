import DealSyncCore
import Foundation

/// A deterministic simulation of one linked deal with every field of the tour mapping, the record decider
/// between MasterDeal and amoCRM, and the relay that writes through to them.
///
/// People edit one or two fields at a time on either side. Every change (theirs or ours) emits a whole-record
/// observation that may be delayed, duplicated, reordered or lost; pollers re-read both records now and then.
/// Each side has a relay that, like the real one, keeps one request in flight per record and coalesces the
/// queued writes behind the head into it. amoCRM applies whatever it is sent (blind overwrites); MasterDeal
/// honours `If-Match` on the version the link knows and answers 412 when the deal changed since, in any field:
/// the relay then reads the deal again and hands both to ``RecordDecider/refused(keys:on:current:link:cause:)``,
/// as the store does.
struct RecordWorld {
    struct Options {
        var seed: UInt64
        var edits = 30
        var loseRate = 0.1
        var duplicateRate = 0.1
        /// amoCRM stamps have one-second resolution.
        var crmSecondResolution = false
        /// How a refused write is handled (the real decider by default; tests swap in older behaviour to show
        /// that the property catches it).
        var refusal: Refusal = .redecideAndConverge
        var trace = false
    }

    enum Refusal {
        /// ``RecordDecider/refused(keys:on:current:link:cause:)``.
        case redecideAndConverge
        /// What the relay did before: forget the writes, decide the refetched deal, converge only when it could
        /// not be read.
        case decideOnly
    }

    /// One outbox row.
    struct Row {
        var key: String
        var values: [String: FieldValue]
    }

    enum Event {
        case edit(Side, [String: FieldValue])
        case observe(Observation)
        case send(Side)
        case confirm(Side, [Row], landedAt: SourceStamp)
        case refetch([Row])
        case poll(Side)
    }

    static let decider = EngineFixtures.decider
    static var mapping: Mapping { EngineFixtures.mapping }

    private(set) var now = 0.0
    private var queue = EventQueue<Event>()
    private var random: SplitMix64
    let options: Options
    private(set) var link: LinkSnapshot
    /// The records as each side holds them, in the side's own keys.
    private(set) var records: [Side: [String: FieldValue]]
    private(set) var stamps: [Side: SourceStamp]
    /// The MasterDeal version the link knows (what the relay sends in `If-Match`).
    private var knownVersion: Int64 = 1
    private var outbox: [Side: [Row]] = [.master: [], .crm: []]
    private var inFlight: [Side: Bool] = [.master: false, .crm: false]
    private(set) var writes = 0
    private(set) var refusals = 0
    private(set) var edits: [(time: Double, side: Side, fields: [String: FieldValue])] = []
    private var causes = 0
    private(set) var log: [String] = []

    init(_ options: Options) {
        self.options = options
        random = SplitMix64(seed: options.seed)
        records = [.master: EngineFixtures.masterRecord, .crm: EngineFixtures.crmRecord]
        stamps = [.master: SourceStamp(millis: 0, version: 1), .crm: SourceStamp(millis: 0)]
        // A settled link: each side holds the record and knows the other holds it.
        var link = LinkSnapshot(linkID: 1, masterDealID: "md-1", recordID: "9001")
        link.fields =
            Self.decider.decide(Self.observation(.master, records[.master]!, stamps[.master]!), link: link, cause: "seed:m").fields
        link.fields = Self.decider.decide(Self.observation(.crm, records[.crm]!, stamps[.crm]!), link: link, cause: "seed:c").fields
        self.link = link
    }

    static func observation(_ side: Side, _ record: [String: FieldValue], _ stamp: SourceStamp) -> Observation {
        Observation(
            connector: side == .master ? "masterdeal" : "tour", side: side, recordID: side == .master ? "md-1" : "9001",
            fields: record, stamp: stamp, account: "acc-tour", isComplete: true)
    }

    mutating func run() {
        var t = 0.0
        for _ in 0..<options.edits {
            t += random.exponential(rate: 1)
            let side: Side = random.bool() ? .master : .crm
            var fields: [String: FieldValue] = [:]
            for _ in 0..<(random.unit() < 0.3 ? 2 : 1) {
                let (key, value) = randomEdit(on: side)
                fields[key] = value
            }
            schedule(at: t, .edit(side, fields))
        }
        for k in 0..<Int(t + 60) {
            schedule(at: Double(k) * 2 + random.unit(), .poll(.master))
            schedule(at: Double(k) * 2 + random.unit(), .poll(.crm))
        }
        while let item = queue.pop() {
            now = item.time
            handle(item.event)
        }
    }

    // MARK: Checking the outcome

    /// The fields whose two sides do not both agree with the decided value, with what each holds.
    var divergent: [String] {
        Self.mapping.fields.compactMap { field in
            let transformer = FieldTransformer(field: field, mapping: Self.mapping)
            let master = transformer.masterValue(in: records[.master]!) ?? transformer.absent(on: .master)
            let crm = transformer.crmValue(in: records[.crm]!) ?? transformer.absent(on: .crm)
            guard let decided = link.fields[field.name]?.decided,
                transformer.agrees(master, on: .master, with: decided), transformer.agrees(crm, on: .crm, with: decided)
            else {
                return "\(field.name): decided \(String(describing: link.fields[field.name]?.decided)), MasterDeal \(master), amoCRM \(crm)"
            }
            return nil
        }
    }

    /// The canonical value a field was given by each edit of it, oldest first.
    func editsOf(_ field: FieldMapping) -> [(millis: Int64, side: Side, value: FieldValue)] {
        let transformer = FieldTransformer(field: field, mapping: Self.mapping)
        return edits.compactMap { edit in
            let key = transformer.key(on: edit.side)
            guard let value = edit.fields[key] else { return nil }
            let canonical =
                edit.side == .master
                ? transformer.masterValue(in: [key: value]) : try? transformer.toMaster(transformer.crmValue(in: [key: value])!).get()
            guard let canonical else { return nil }
            var millis = Int64(edit.time * 1000)
            if edit.side == .crm && options.crmSecondResolution { millis = millis / 1000 * 1000 }
            return (millis, edit.side, canonical)
        }
    }

    // MARK: Events

    private mutating func handle(_ event: Event) {
        if options.trace { log.append(String(format: "%8.3f ", now) + "\(event)") }
        defer {
            if options.trace {
                for (name, state) in link.fields.sorted(by: { $0.key < $1.key }) {
                    func side(_ s: SideState) -> String {
                        "\(s.known.map { "\($0)" } ?? "-")@\(s.knownAt.map { "\($0)" } ?? "-")\(s.knownIsOurs ? " ours since \(s.oursSince.map { "\($0)" } ?? "?")" : "") edit=\(s.lastEdit.map { "\($0)" } ?? "-")@\(s.lastEditAt.map { "\($0)" } ?? "-") pend=\(s.pending.map { "\($0.value)" }) held=\(s.heldSince.map { "\($0)" } ?? "-")"
                    }
                    log.append(
                        "          [\(name)] D=\(state.decided.map { "\($0)" } ?? "-") by \(state.decidedBy.map { "\($0)" } ?? "-")@\(state.decidedAt.map { "\($0)" } ?? "-") | M: \(side(state.master)) | C: \(side(state.crm))"
                    )
                }
            }
        }
        switch event {
        case .edit(let side, let fields):
            // A person saving a field with the value it already has changed nothing in it.
            let changed = fields.filter { key, value in
                guard
                    let field = Self.mapping.fields.first(where: {
                        ($0.master == key && side == .master) || ($0.crm == key && side == .crm)
                    })
                else { return true }
                let transformer = FieldTransformer(field: field, mapping: Self.mapping)
                let read = { (record: [String: FieldValue]) in
                    side == .master
                        ? transformer.masterValue(in: record) ?? transformer.absent(on: side)
                        : transformer.crmValue(in: record) ?? transformer.absent(on: side)
                }
                return read([key: value]) != read(records[side]!)
            }
            guard !changed.isEmpty else { return }
            edits.append((now, side, changed))
            change(side, changed)
        case .observe(let observation):
            if observation.side == .master, let version = observation.stamp?.version { knownVersion = max(knownVersion, version) }
            apply(Self.decider.decide(observation, link: link, cause: nextCause()))
        case .send(let side):
            send(side)
        case .confirm(let side, let rows, let landedAt):
            if side == .master, let version = landedAt.version { knownVersion = max(knownVersion, version) }
            // The request carried the rows' values merged, later rows winning: that is what the side holds.
            var landed: [String: FieldValue] = [:]
            for row in rows { landed.merge(row.values) { $1 } }
            for row in rows {
                apply(Self.decider.confirmed(key: row.key, on: side, landedAt: landedAt, values: landed, link: link, cause: nextCause()))
            }
            inFlight[side] = false
            scheduleSend(side)
        case .refetch(let rows):
            // The deal as MasterDeal holds it when the relay reads it again (it may have moved on further).
            let current = Self.observation(.master, records[.master]!, stamps[.master]!)
            knownVersion = max(knownVersion, stamps[.master]!.version ?? 0)
            let keys = rows.map(\.key)
            switch options.refusal {
            case .redecideAndConverge:
                apply(Self.decider.refused(keys: keys, on: .master, current: current, link: link, cause: nextCause()))
            case .decideOnly:
                for key in keys { link.fields = Self.decider.abandoned(key: key, on: .master, link: link) }
                apply(Self.decider.decide(current, link: link, cause: nextCause()))
            }
            inFlight[.master] = false
            scheduleSend(.master)
        case .poll(let side):
            schedule(at: now + random.uniform(0.01, 0.5), .observe(Self.observation(side, records[side]!, stamps[side]!)))
        }
    }

    /// Applies a change to a side's record, moves its stamp (and MasterDeal's version) and emits the record.
    private mutating func change(_ side: Side, _ fields: [String: FieldValue]) {
        var record = records[side]!
        for (key, value) in fields { record[key] = value }
        // MasterDeal keeps its version when a write changes nothing; amoCRM moves updated_at on every write.
        if side == .master && record == records[.master]! { return }
        records[side] = record
        var millis = Int64(now * 1000)
        if side == .crm && options.crmSecondResolution {
            millis = millis / 1000 * 1000
        } else if side == .crm {
            // A clock that orders every state (MasterDeal has its versions for that); amoCRM's one-second clock
            // cannot, which the second-resolution runs exercise.
            millis = max(millis, stamps[.crm]!.millis + 1)
        }
        stamps[side] = SourceStamp(millis: millis, version: side == .master ? (stamps[.master]?.version ?? 1) + 1 : nil)
        if random.unit() < options.loseRate { return }
        let observation = Event.observe(Self.observation(side, record, stamps[side]!))
        schedule(at: now + random.uniform(0.01, 3), observation)
        if random.unit() < options.duplicateRate { schedule(at: now + random.uniform(0.01, 5), observation) }
    }

    /// Commits a decision: the link's new state and its writes into the outbox.
    private mutating func apply(_ decision: RecordDecision) {
        link.fields = decision.fields
        for write in decision.writes {
            writes += 1
            outbox[write.side]!.append(Row(key: write.idempotencyKey, values: write.values))
            scheduleSend(write.side)
        }
    }

    private mutating func scheduleSend(_ side: Side) {
        guard !inFlight[side]!, !outbox[side]!.isEmpty else { return }
        inFlight[side] = true
        schedule(at: now + random.uniform(0.05, 1), .send(side))
    }

    /// The relay's request: the head and the writes queued behind it, coalesced into one.
    private mutating func send(_ side: Side) {
        let rows = outbox[side]!
        outbox[side] = []
        var values: [String: FieldValue] = [:]
        for row in rows { values.merge(row.values) { $1 } }
        if side == .master && knownVersion != stamps[.master]!.version {
            refusals += 1
            schedule(at: now + random.uniform(0.01, 0.3), .refetch(rows))
            return
        }
        change(side, values)
        schedule(at: now + random.uniform(0.001, 0.3), .confirm(side, rows, landedAt: stamps[side]!))
    }

    private mutating func nextCause() -> String {
        causes += 1
        return "event:\(causes)"
    }

    private mutating func schedule(at time: Double, _ event: Event) {
        queue.push(at: time, event)
    }

    // MARK: What people type

    private mutating func randomEdit(on side: Side) -> (String, FieldValue) {
        let field = Self.mapping.fields[Int(random.next() % UInt64(Self.mapping.fields.count))]
        let n = Int(random.next() % 1000)
        let value: FieldValue
        switch (field.name, side) {
        case ("amount", .master): value = EngineFixtures.rub("\(100_000 + n).\(n % 100)")
        case ("amount", .crm): value = .integer(Int64(100_000 + n))
        case ("stage", .master): value = .text(["lead", "qualified", "won", "lost"][n % 4])
        case ("stage", .crm): value = EngineFixtures.stage([1, 2, 3, 142, 143][n % 5])
        case ("owner", .master): value = .text(["u-olga", "u-ivan"][n % 2])
        case ("owner", .crm): value = .integer([501, 502][n % 2])
        case ("sla", .master): value = .time(1_767_200_000 + Int64(n) * 3600)
        case ("sla", .crm): value = .text(String(1_767_200_000 + Int64(n) * 3600))
        case ("tour_type", .master): value = .text(["beach", "ski"][n % 2])
        case ("tour_type", .crm): value = .text(["501", "502"][n % 2])
        default: value = .text("\(field.name)-\(side)-\(n)")
        }
        return (side == .master ? field.master : field.crm, value)
    }
}

/// A min-heap of events by (time, order of scheduling): a deterministic event queue for the simulated worlds.
struct EventQueue<Event> {
    private var items: [(time: Double, seq: Int, event: Event)] = []
    private var seq = 0

    private func less(_ a: Int, _ b: Int) -> Bool { (items[a].time, items[a].seq) < (items[b].time, items[b].seq) }

    mutating func push(at time: Double, _ event: Event) {
        seq += 1
        items.append((time, seq, event))
        var child = items.count - 1
        while child > 0, less(child, (child - 1) / 2) {
            items.swapAt(child, (child - 1) / 2)
            child = (child - 1) / 2
        }
    }

    mutating func pop() -> (time: Double, event: Event)? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < items.count, less(left, smallest) { smallest = left }
            if right < items.count, less(right, smallest) { smallest = right }
            if smallest == parent { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return (top.time, top.event)
    }
}
