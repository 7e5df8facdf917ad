import DealSyncCore
import Foundation

/// A deterministic simulation of two sides, one synced field and the gateway's engine between them.
///
/// People edit either side; every change emits an observation that may be delayed, duplicated, reordered or
/// lost; pollers re-read each side now and then. The gateway's writes land in order per side with delays,
/// come back as echoes, and are confirmed with the side's new stamp. After everything settles, the test
/// checks both sides hold the decided value.
struct SyncWorld {
    struct Options {
        var seed: UInt64
        var rule: ConflictRule
        var edits = 30
        var loseRate = 0.1
        var duplicateRate = 0.1
        /// amoCRM and Bitrix24 stamps have one-second resolution.
        var crmSecondResolution = false
        var trace = false
    }

    enum Event {
        case edit(Side, String)
        case observe(Side, String, SourceStamp)
        case apply(Side, String, key: String)
        case confirm(Side, String, key: String, landedAt: SourceStamp)
        case poll(Side)
    }

    private(set) var now = 0.0
    private var queue = EventQueue<Event>()
    private var random: SplitMix64
    let options: Options
    let engine: FieldEngine
    var state = FieldState()
    var values: [Side: String] = [.master: "initial", .crm: "initial"]
    var stamps: [Side: SourceStamp] = [.master: SourceStamp(millis: 0, version: 1), .crm: SourceStamp(millis: 0)]
    private var freeAt: [Side: Double] = [.master: 0, .crm: 0]
    private(set) var writes = 0
    private(set) var lostObservations = 0
    private(set) var edits: [(time: Double, side: Side, value: String)] = []
    private var keyCounter = 0
    private(set) var log: [String] = []

    init(_ options: Options) {
        self.options = options
        random = SplitMix64(seed: options.seed)
        let field = FieldMapping(name: "title", master: "opportunity_name", crm: "name", conflict: options.rule)
        let mapping = Mapping(
            name: "m", crm: .amocrm, pipeline: 1, linkField: "custom_fields.1", fields: [field],
            stages: StageMatrix(entries: []), owners: OwnerDirectory(entries: []))
        engine = FieldEngine(transformer: FieldTransformer(field: field, mapping: mapping))
        state.decided = .text("initial")
        state.decidedBy = .master
        state.decidedAt = SourceStamp(millis: 0, version: 1)
        state.master = SideState(known: .text("initial"), knownAt: SourceStamp(millis: 0, version: 1))
        state.crm = SideState(known: .text("initial"), knownAt: SourceStamp(millis: 0))
    }

    mutating func run() {
        var t = 0.0
        for k in 0..<options.edits {
            t += random.exponential(rate: 1)
            schedule(at: t, .edit(random.bool() ? .master : .crm, "v\(k)"))
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

    private mutating func handle(_ event: Event) {
        if options.trace {
            log.append(String(format: "%8.3f ", now) + "\(event)")
        }
        defer {
            if options.trace {
                log.append(
                    "         D=\(String(describing: state.decided)) by \(String(describing: state.decidedBy)) at \(String(describing: state.decidedAt)) M=\(values[.master]!) C=\(values[.crm]!) pendM=\(state.master.pending.map { "\($0.value)" }) pendC=\(state.crm.pending.map { "\($0.value)" }) kM=\(String(describing: state.master.known))@\(String(describing: state.master.knownAt)) kC=\(String(describing: state.crm.known))@\(String(describing: state.crm.knownAt)) heldC=\(String(describing: state.crm.heldSince)) heldM=\(String(describing: state.master.heldSince))"
                )
            }
        }
        switch event {
        case .edit(let side, let value):
            change(side, to: value)
            edits.append((now, side, value))
            emit(side)
        case .observe(let side, let value, let stamp):
            let outcome = engine.observe(.text(value), from: side, at: stamp, state: &state)
            enqueue(outcome.writes)
        case .apply(let side, let value, let key):
            change(side, to: value)
            emit(side)
            schedule(at: now + random.uniform(0.001, 0.3), .confirm(side, value, key: key, landedAt: stamps[side]!))
        case .confirm(let side, let value, let key, let landedAt):
            let outcome = engine.confirmed(key: key, on: side, landedAt: landedAt, value: .text(value), state: &state)
            enqueue(outcome.writes)
        case .poll(let side):
            schedule(at: now + random.uniform(0.01, 0.5), .observe(side, values[side]!, stamps[side]!))
        }
    }

    private mutating func change(_ side: Side, to value: String) {
        values[side] = value
        var millis = Int64(now * 1000)
        if side == .crm && options.crmSecondResolution { millis = millis / 1000 * 1000 }
        let version = side == .master ? (stamps[.master]?.version ?? 1) + 1 : nil
        stamps[side] = SourceStamp(millis: millis, version: version)
    }

    private mutating func emit(_ side: Side) {
        if random.unit() < options.loseRate {
            lostObservations += 1
            return
        }
        let event = Event.observe(side, values[side]!, stamps[side]!)
        schedule(at: now + random.uniform(0.01, 3), event)
        if random.unit() < options.duplicateRate { schedule(at: now + random.uniform(0.01, 5), event) }
    }

    private mutating func enqueue(_ decided: [Side: FieldValue]) {
        for side in Side.allCases {
            guard let value = decided[side], case .text(let text) = value else { continue }
            keyCounter += 1
            let key = "w\(keyCounter)"
            writes += 1
            engine.enqueued(value, to: side, key: key, state: &state)
            let at = max(now, freeAt[side]!) + random.uniform(0.05, 2)
            freeAt[side] = at
            schedule(at: at, .apply(side, text, key: key))
        }
    }

    private mutating func schedule(at time: Double, _ event: Event) {
        queue.push(at: time, event)
    }
}
