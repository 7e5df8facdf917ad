import DealSyncCore
import DealSyncStore
import Foundation

/// What `dealsync onboard` tells: what it read, how the records match, what it would do (a dry run) or did, and
/// how the linked pairs' fields differ. `--json` prints it as it is.
public struct OnboardingReport: Sendable, Codable, Equatable {
    public struct Read: Sendable, Codable, Equatable {
        public var records: Int
        public var calls: Int
        /// Calls refused for the rate limit and asked again.
        public var refused: Int
    }

    public struct Example: Sendable, Codable, Equatable {
        public var side: String
        public var record: String
        public var detail: String
    }

    public struct FieldDifference: Sendable, Codable, Equatable {
        public var field: String
        public var rule: String
        public var pairs: Int
        public var keepsMaster: Int
        public var keepsCRM: Int
        public var examples: [String]

        enum CodingKeys: String, CodingKey {
            case field, rule, pairs, keepsMaster = "keeps_master", keepsCRM = "keeps_crm", examples
        }
    }

    /// What the plan says, by name: `link_by_key`, `create_in_master`, `ambiguous`, ...
    public struct Plan: Sendable, Codable, Equatable {
        public var alreadyLinked: Int
        public var linkByLinkField: Int
        public var linkByKey: [String: Int]
        public var createInMaster: Int
        public var createInCRM: Int
        public var ambiguousCRM: Int
        public var ambiguousMaster: Int
        public var leftUnlinked: Int
        public var linkProblems: Int
        public var outOfScopeCRM: Int
        public var outOfScopeMaster: Int
        public var writesToMaster: Int
        public var writesToCRM: Int
        public var linkFieldWrites: Int

        enum CodingKeys: String, CodingKey {
            case alreadyLinked = "already_linked", linkByLinkField = "link_by_link_field", linkByKey = "link_by_key"
            case createInMaster = "create_in_master", createInCRM = "create_in_crm", ambiguousCRM = "ambiguous_crm"
            case ambiguousMaster = "ambiguous_master", leftUnlinked = "left_unlinked", linkProblems = "link_problems"
            case outOfScopeCRM = "out_of_scope_crm", outOfScopeMaster = "out_of_scope_master"
            case writesToMaster = "writes_to_master", writesToCRM = "writes_to_crm", linkFieldWrites = "link_field_writes"
        }
    }

    public var connector: String
    public var crm: String
    public var dryRun: Bool
    public var readCRM: Read
    public var readMaster: Read
    public var plan: Plan
    public var ambiguous: [Example]
    public var left: [Example]
    public var problems: [Example]
    public var fields: [FieldDifference]
    /// The run (not in a dry run): its id, whether it resumed an interrupted one, and what it did over all its
    /// invocations.
    public var run: String?
    public var resumed: Bool?
    public var done: OnboardingStore.Counts?
    /// How long each phase took, in seconds: `read`, `plan`, `apply` and, with `--wait`, `delivery`.
    public var seconds: [String: Double] = [:]

    enum CodingKeys: String, CodingKey {
        case connector, crm, dryRun = "dry_run", readCRM = "read_crm", readMaster = "read_master", plan, ambiguous, left
        case problems, fields, run, resumed, done, seconds
    }

    static let examples = 5

    public init(
        connector: String, crm: ConnectorKind, reading: Onboarder.Reading, plan: OnboardingPlan,
        differences: OnboardingDifferences, dryRun: Bool
    ) {
        self.connector = connector
        self.crm = crm.displayName
        self.dryRun = dryRun
        readCRM = Read(records: plan.read[.crm] ?? 0, calls: reading.calls[.crm] ?? 0, refused: reading.refused[.crm] ?? 0)
        readMaster = Read(
            records: plan.read[.master] ?? 0, calls: reading.calls[.master] ?? 0, refused: reading.refused[.master] ?? 0)
        var byKey: [String: Int] = [:]
        for pair in plan.pairs { if case .key(let name) = pair.match { byKey[name, default: 0] += 1 } }
        self.plan = Plan(
            alreadyLinked: plan.alreadyLinked, linkByLinkField: plan.linkedByLinkField, linkByKey: byKey,
            createInMaster: plan.createInMaster.count, createInCRM: plan.createInCRM.count,
            ambiguousCRM: plan.ambiguous.count { $0.side == .crm }, ambiguousMaster: plan.ambiguous.count { $0.side == .master },
            leftUnlinked: plan.left.count, linkProblems: plan.problems.count, outOfScopeCRM: plan.outOfScope[.crm] ?? 0,
            outOfScopeMaster: plan.outOfScope[.master] ?? 0, writesToMaster: differences.writes[.master] ?? 0,
            writesToCRM: differences.writes[.crm] ?? 0, linkFieldWrites: differences.linkFieldWrites)
        ambiguous = plan.ambiguous.prefix(Self.examples).map {
            Example(
                side: $0.side.rawValue, record: $0.recordID,
                detail: "matches \($0.candidates.joined(separator: ", ")) by \($0.key)")
        }
        left = plan.left.prefix(Self.examples).map { Example(side: $0.side.rawValue, record: $0.recordID, detail: $0.reason) }
        problems = plan.problems.prefix(Self.examples).map { Example(side: "crm", record: $0.recordID, detail: $0.reason) }
        fields = differences.fields.map {
            FieldDifference(
                field: $0.name, rule: $0.rule, pairs: $0.pairs, keepsMaster: $0.kept[.master] ?? 0, keepsCRM: $0.kept[.crm] ?? 0,
                examples: $0.examples)
        }
    }

    /// The report for a terminal.
    public var text: String {
        let p = plan
        let would = dryRun ? "would " : ""
        var lines = [
            "\(connector) (\(crm))\(dryRun ? ", dry run: nothing written" : "")",
            "read: \(readCRM.records) \(crm) records (\(readCRM.calls) calls\(readCRM.refused > 0 ? ", \(readCRM.refused) refused for the rate limit and asked again" : "")), \(readMaster.records) MasterDeal deals of its account (\(readMaster.calls) calls\(readMaster.refused > 0 ? ", \(readMaster.refused) refused" : ""))",
            "already linked: \(p.alreadyLinked)",
            "\(would)link by link field: \(p.linkByLinkField)",
        ]
        for (key, count) in p.linkByKey.sorted(by: { $0.key < $1.key }) { lines.append("\(would)link by key \(key): \(count)") }
        if p.linkByKey.isEmpty { lines.append("\(would)link by key: 0") }
        lines += [
            "\(would)create in MasterDeal: \(p.createInMaster)",
            "\(would)create in \(crm): \(p.createInCRM)",
            "ambiguous (left alone, reported): \(p.ambiguousCRM) \(crm) records, \(p.ambiguousMaster) MasterDeal deals",
            "left unlinked (no match): \(p.leftUnlinked)",
            "link problems: \(p.linkProblems)",
            "out of scope (left alone until they move into it): \(p.outOfScopeCRM) \(crm) records, \(p.outOfScopeMaster) MasterDeal deals",
            "writes linking the pairs: \(p.writesToMaster) to MasterDeal, \(p.writesToCRM) to \(crm) (\(p.linkFieldWrites) write the link field)",
        ]
        if !ambiguous.isEmpty {
            lines.append("")
            lines.append("ambiguous, for example:")
            lines += ambiguous.map { "  \($0.side) \($0.record): \($0.detail)" }
        }
        if !problems.isEmpty {
            lines.append("")
            lines.append("link problems, for example:")
            lines += problems.map { "  \($0.side) \($0.record): \($0.detail)" }
        }
        lines.append("")
        if fields.isEmpty {
            lines.append("fields of the linked pairs: no differences")
        } else {
            lines.append("fields that differ in the linked pairs (each decided by its rule):")
            for field in fields {
                lines.append(
                    "  \(field.field) [\(field.rule)]: \(field.pairs) pairs; keeps MasterDeal's value in \(field.keepsMaster), \(crm)'s in \(field.keepsCRM)"
                )
                lines += field.examples.map { "    \($0)" }
            }
        }
        if let done {
            lines.append("")
            lines.append(
                "done\(resumed == true ? " (resumed an interrupted run)" : ""): linked \(done.linked), created in MasterDeal \(done.createdInMaster), created in \(crm) \(done.createdInCRM), held \(done.held), writes enqueued \(done.writes)"
                    + (done.skipped > 0 ? ", found done already \(done.skipped)" : ""))
            if let run { lines.append("run \(run): its writes are delivered by `dealsync serve`; the audit log has an `onboard` entry") }
        }
        let phases = ["read", "plan", "apply", "delivery"].compactMap { name in
            seconds[name].map { String(format: "%@ %.1f s", name, $0) }
        }
        if !phases.isEmpty { lines.append("took: " + phases.joined(separator: ", ")) }
        return lines.joined(separator: "\n")
    }
}
