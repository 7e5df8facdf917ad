extension RecordDecider {
    // MARK: Onboarding

    /// A CRM record and a MasterDeal deal that existed before dealsync linked them (matched by onboarding): both
    /// are seen at once, and every field that differs is a conflict decided by the field's rule, logged like any
    /// other. The rule's loser is observed first and its winner second, so the engine decides as it would two
    /// concurrent edits: a one-way field takes its owner's value, `priority` its side's, `lww` the later record's
    /// (a tie goes to MasterDeal). The link field is written to the CRM when the record does not carry the deal's id.
    public func onboard(crm: Observation, master: Observation, link: LinkSnapshot, cause: String) -> RecordDecision {
        var decision = RecordDecision(fields: link.fields)
        var outcomes: [String: FieldEngine.Outcome] = [:]
        let stamps: [Side: SourceStamp] = [
            .crm: crm.stamp ?? SourceStamp(millis: 0), .master: master.stamp ?? SourceStamp(millis: 0),
        ]
        for engine in engines {
            let values: [Side: FieldValue] = [
                .crm: Self.value(of: engine.transformer, in: crm), .master: Self.value(of: engine.transformer, in: master),
            ].compactMapValues { $0 }
            guard !values.isEmpty else { continue }
            var state = decision.fields[engine.field.name] ?? FieldState()
            var outcome = FieldEngine.Outcome()
            var order = Self.onboardingOrder(of: engine.field, stamps: stamps)
            if let crmValue = values[.crm], let masterValue = values[.master],
                engine.transformer.agrees(crmValue, on: .crm, with: masterValue)
            {
                // The same value as each side holds it (an amoCRM price of 0 for no amount): no conflict to log. The
                // side that may decide it (the owner of a one-way field) decides; the other's is known.
                let decider = engine.field.direction.owner ?? .master
                engine.seed(values[decider.other] ?? .null, on: decider.other, at: stamps[decider.other], state: &state)
                order = [decider]
            }
            for side in order {
                guard let value = values[side], let stamp = stamps[side] else { continue }
                let step = engine.observe(value, from: side, at: stamp, state: &state)
                outcome.entries += step.entries
                outcome.writes = step.writes
                outcome.explanation = step.explanation
            }
            outcomes[engine.field.name] = outcome
            decision.fields[engine.field.name] = state
        }
        var extra: [Side: [String: FieldValue]] = [:]
        if crm.linkedMasterID != master.recordID { extra[.crm] = [mapping.linkField: .text(master.recordID)] }
        collect(outcomes, into: &decision, link: link, operation: .update, cause: cause, extra: extra)
        decision.explanations["*"] = "linked by onboarding: the fields that differ are decided by their rules"
        return decision
    }

    /// Which side of `field` is observed first when both records are seen at once: the one its rule lets lose.
    static func onboardingOrder(of field: FieldMapping, stamps: [Side: SourceStamp]) -> [Side] {
        if let owner = field.direction.owner { return [owner.other, owner] }
        switch field.conflict {
        case .priority(let side):
            return [side.other, side]
        case .lww:
            let crm = stamps[.crm]?.millis ?? 0, master = stamps[.master]?.millis ?? 0
            return crm > master ? [.master, .crm] : [.crm, .master]
        }
    }
}
