import DealSyncCore
import Foundation

/// The pure engine's ceiling: observations of linked deals decided per second, with the shipped tour-agency
/// mapping, through the whole cycle a change makes — decide, the write confirmed, its echo recognised.
struct EngineBench {
    let decider: RecordDecider
    let links: Int
    let rounds: Int

    struct Result {
        var decisions = 0
        var writes = 0
        var seconds = 0.0
        var perSecond: Double { Double(decisions) / seconds }
        /// Every link's field states as the run left them: what a lane loads and saves per link.
        var states: [[String: FieldState]] = []
    }

    func run() -> Result {
        var result = Result()
        var snapshots = (0..<links).map { LinkSnapshot(linkID: Int64($0 + 1), masterDealID: "md-\($0 + 1)", recordID: "\(9_000_000 + $0)") }
        var crmRecords = [[String: FieldValue]](repeating: [:], count: links)
        var version: Int64 = 1
        var clock: Int64 = 1_790_000_000_000
        let started = ContinuousClock.now

        // Every deal is created in MasterDeal and lands in amoCRM.
        for index in 0..<links {
            clock += 7
            let observation = master(index, round: 0, at: clock, version: version)
            var decision = decider.createInCRM(from: observation, link: snapshots[index], cause: "bench:create:\(index)")
            snapshots[index].fields = decision.fields
            result.decisions += 1
            for write in decision.writes {
                result.writes += 1
                crmRecords[index].merge(write.values) { _, new in new }
                clock += 3
                decision = decider.confirmed(
                    key: write.idempotencyKey, on: .crm, landedAt: SourceStamp(millis: clock),
                    values: write.values, link: snapshots[index], cause: "bench:confirm")
                snapshots[index].fields = decision.fields
                result.decisions += 1
            }
        }
        // Then rounds of changes: MasterDeal moves the stage and amount, a salesperson renames the lead, and each
        // write's echo comes back.
        for round in 1...rounds {
            for index in 0..<links {
                version += 1
                clock += 11
                let fromMaster = decider.decide(
                    master(index, round: round, at: clock, version: version), link: snapshots[index],
                    cause: "bench:\(round):\(index):m")
                snapshots[index].fields = fromMaster.fields
                result.decisions += 1
                for write in fromMaster.writes where write.side == .crm {
                    result.writes += 1
                    crmRecords[index].merge(write.values) { _, new in new }
                    clock += 5
                    let landed = SourceStamp(millis: clock)
                    snapshots[index].fields =
                        decider.confirmed(
                            key: write.idempotencyKey, on: .crm, landedAt: landed, values: write.values,
                            link: snapshots[index], cause: "bench:confirm"
                        ).fields
                    let echo = Observation(
                        connector: decider.crmConnector, side: .crm, recordID: snapshots[index].recordID!,
                        fields: crmRecords[index], stamp: landed, isComplete: true)
                    snapshots[index].fields = decider.decide(echo, link: snapshots[index], cause: "bench:echo").fields
                    result.decisions += 2
                }
                clock += 13
                crmRecords[index]["name"] = .text("Сочи, \(round + 6) ночей, лид \(index)")
                let edit = Observation(
                    connector: decider.crmConnector, side: .crm, recordID: snapshots[index].recordID!,
                    fields: crmRecords[index], stamp: SourceStamp(millis: clock), isComplete: true)
                let fromCRM = decider.decide(edit, link: snapshots[index], cause: "bench:\(round):\(index):c")
                snapshots[index].fields = fromCRM.fields
                result.decisions += 1
                result.writes += fromCRM.writes.count
                // The rename lands in MasterDeal (a new version), as the relay confirms it: left unconfirmed, its
                // pending write would stay in the field state for good, every round adding one.
                for write in fromCRM.writes where write.side == .master {
                    version += 1
                    clock += 5
                    snapshots[index].fields =
                        decider.confirmed(
                            key: write.idempotencyKey, on: .master, landedAt: SourceStamp(millis: clock, version: version),
                            values: write.values, link: snapshots[index], cause: "bench:confirm"
                        ).fields
                    result.decisions += 1
                }
            }
        }
        result.seconds = started.duration(to: .now).seconds
        result.states = snapshots.map(\.fields)
        return result
    }

    /// A link's field states as stored (one text document per link): each written and read back `rounds` times, as a
    /// lane's save and the next batch's load do.
    static func storedText(_ states: [[String: FieldState]], rounds: Int) throws -> (perSecond: Double, bytes: Int) {
        var bytes = 0
        var read = 0
        let started = ContinuousClock.now
        for _ in 0..<rounds {
            for fields in states {
                let text = FieldState.jsonText(of: fields)
                bytes += text.utf8.count
                read += try FieldState.states(jsonText: text).count
            }
        }
        let seconds = started.duration(to: .now).seconds
        guard read == states.reduce(0, { $0 + $1.count }) * rounds else { throw BenchError("field states read back short") }
        return (Double(states.count * rounds) / seconds, bytes / max(1, states.count * rounds))
    }

    /// amoCRM `leads[update]` bodies as the load sends them, each parsed as intake parses it before storing.
    static func webhookForms(count: Int) throws -> (perSecond: Double, fields: Int) {
        let bodies = (0..<1_000).map { Array(AmoLoad.body(leadID: 900_000 + $0, now: 1_796_570_937).utf8) }
        var fields = 0
        let started = ContinuousClock.now
        for index in 0..<count {
            let form = try PHPForm.parse(bytes: bodies[index % bodies.count])
            fields += form.keys.count
        }
        let seconds = started.duration(to: .now).seconds
        guard fields == 2 * count else { throw BenchError("webhook forms parsed short: \(fields)") }
        return (Double(count) / seconds, bodies[0].split(separator: UInt8(ascii: "&")).count)
    }

    static let stages = ["lead", "qualified", "proposal", "won", "active"]
    static let owners = ["u-olga", "u-ivan", "u-anna"]

    func master(_ index: Int, round: Int, at millis: Int64, version: Int64) -> Observation {
        let fields: [String: FieldValue] = [
            "opportunity_name": .text("Сочи, \(round + 7) ночей, лид \(index)"),
            "amount": .money(Money(amount: Decimal(150_000 + 1_000 * round + index), currency: "RUB")),
            "stage": .text(Self.stages[(index + round) % Self.stages.count]),
            "owner_id": .text(Self.owners[index % Self.owners.count]),
            "sla_due_at": .time(1_790_000_000 + Int64(index * 60)),
            "attributes.tour_type": .text(index % 2 == 0 ? "beach" : "ski"),
        ]
        return Observation(
            connector: decider.masterConnector, side: .master, recordID: "md-\(index + 1)", fields: fields,
            stamp: SourceStamp(millis: millis, version: version), isComplete: true)
    }
}
