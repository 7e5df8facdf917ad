/// How the fields of the pairs onboarding links differ, and what each field's rule does about it.
public struct OnboardingDifferences: Sendable {
    /// One field that differs in some pairs.
    public struct Field: Sendable {
        public var name: String
        public var rule: String
        /// How many pairs differ on it, and whose value each keeps.
        public var pairs = 0
        public var kept: [Side: Int] = [:]
        /// A few pairs, as `record ↔ deal: crm value / MasterDeal value → kept side` (personal data masked).
        public var examples: [String] = []
    }

    public var fields: [Field] = []
    /// The writes linking the pairs enqueues, per side (the CRM's include the link field written back).
    public var writes: [Side: Int] = [:]
    /// Pairs whose CRM record gets the deal's id in its link field.
    public var linkFieldWrites = 0
}

extension OnboardingPlanner {
    static let examplesPerField = 3

    /// Decides every pair of `plan` as linking it would, on a scratch link, and counts what differs: the same
    /// decision the real run makes, so the dry run's numbers are the run's.
    public func differences(of plan: OnboardingPlan) -> OnboardingDifferences {
        var result = OnboardingDifferences()
        var byName: [String: OnboardingDifferences.Field] = [:]
        for pair in plan.pairs {
            let scratch = LinkSnapshot(linkID: 0, masterDealID: pair.master.recordID, recordID: pair.crm.recordID)
            let decision = lane.decider.onboard(crm: pair.crm, master: pair.master, link: scratch, cause: "dry-run")
            for write in decision.writes {
                result.writes[write.side, default: 0] += 1
                if write.side == .crm, write.values[mapping.linkField] != nil { result.linkFieldWrites += 1 }
                for name in write.fields.keys.sorted() {
                    guard let field = mapping.field(named: name) else { continue }
                    var summary = byName[name] ?? .init(name: name, rule: Self.rule(of: field))
                    let kept = write.side.other
                    summary.pairs += 1
                    summary.kept[kept, default: 0] += 1
                    if summary.examples.count < Self.examplesPerField {
                        let transformer = FieldTransformer(field: field, mapping: mapping)
                        let crm = field.pii ? "•••" : Self.show(transformer.crmValue(in: pair.crm.fields))
                        let master = field.pii ? "•••" : Self.show(transformer.masterValue(in: pair.master.fields))
                        summary.examples.append(
                            "\(pair.crm.recordID) ↔ \(pair.master.recordID): \(mapping.crm.displayName) \(crm) / MasterDeal \(master) → keeps \(kept)"
                        )
                    }
                    byName[name] = summary
                }
            }
        }
        result.fields = mapping.fields.compactMap { byName[$0.name] }
        return result
    }

    static func rule(of field: FieldMapping) -> String {
        field.direction == .both ? field.conflict.description : "direction:\(field.direction.rawValue)"
    }

    static func show(_ value: FieldValue?) -> String {
        guard let value else { return "(unknown)" }
        return value.matchingText.map { "'\($0)'" } ?? "(empty)"
    }
}
