extension RecordDecider {
    // MARK: Creates

    /// A deal new to MasterDeal, not linked to this CRM: create the CRM record, with `master_deal_id` in the
    /// mapping's link field.
    public func createInCRM(from observation: Observation, link: LinkSnapshot, cause: String) -> RecordDecision {
        var decision = RecordDecision(fields: [:])
        let stamp = observation.stamp ?? SourceStamp(millis: 0)
        var outcomes: [String: FieldEngine.Outcome] = [:]
        for engine in engines {
            guard let value = Self.value(of: engine.transformer, in: observation) else { continue }
            var state = FieldState()
            outcomes[engine.field.name] = engine.observe(value, from: .master, at: stamp, state: &state)
            decision.fields[engine.field.name] = state
        }
        let linkValue: [String: FieldValue] = [mapping.linkField: .text(observation.recordID)]
        collect(outcomes, into: &decision, link: link, operation: .create, cause: cause, extra: [.crm: linkValue])
        if !decision.writes.contains(where: { $0.side == .crm }) {
            // Nothing mapped flows to the CRM; the record is still created so the deal is visible there.
            let key = IdempotencyKey.make(
                target: crmConnector, record: link.recordKey(for: .crm), operation: "create",
                values: linkValue, cause: cause)
            decision.writes.append(
                .init(
                    side: .crm, operation: .create, values: linkValue, fields: [:],
                    recordKey: link.recordKey(for: .crm), idempotencyKey: key))
        }
        // Only the create goes to the CRM; MasterDeal already holds what it said.
        decision.writes.removeAll { $0.side == .master }
        for name in decision.fields.keys { decision.fields[name]?.master.pending.removeAll() }
        return decision
    }

    /// A record new to the CRM, not linked and carrying no `master_deal_id`: create the MasterDeal deal in
    /// `account`. MasterDeal needs a name and a stage; the first canonical stage stands in when none is mapped.
    public func createInMaster(from observation: Observation, link: LinkSnapshot, account: String, cause: String) -> RecordDecision {
        var decision = RecordDecision(fields: [:])
        let stamp = observation.stamp ?? SourceStamp(millis: 0)
        var outcomes: [String: FieldEngine.Outcome] = [:]
        for engine in engines {
            guard let value = Self.value(of: engine.transformer, in: observation) else { continue }
            var state = FieldState()
            outcomes[engine.field.name] = engine.observe(value, from: .crm, at: stamp, state: &state)
            decision.fields[engine.field.name] = state
        }
        var required: [String: FieldValue] = ["account_id": .text(account)]
        let mappedMaster = Set(engines.compactMap { outcomes[$0.field.name]?.writes[.master] != nil ? $0.field.master : nil })
        if !mappedMaster.contains("opportunity_name") {
            required["opportunity_name"] = .text("\(crmConnector) #\(observation.recordID)")
        }
        if !mappedMaster.contains("stage"), let first = mapping.stages.canonicalStages.first {
            required["stage"] = .text(first)
        }
        collect(outcomes, into: &decision, link: link, operation: .create, cause: cause, extra: [.master: required])
        decision.writes.removeAll { $0.side == .crm }
        for name in decision.fields.keys { decision.fields[name]?.crm.pending.removeAll() }
        return decision
    }

    /// A CRM record carrying a `master_deal_id` dealsync has no link for: remember what the CRM says and read the
    /// MasterDeal deal first; MasterDeal's values then decide.
    public func adopt(_ observation: Observation, link: LinkSnapshot) -> RecordDecision {
        var decision = RecordDecision(fields: link.fields)
        for engine in engines {
            guard let value = Self.value(of: engine.transformer, in: observation) else { continue }
            var state = decision.fields[engine.field.name] ?? FieldState()
            engine.seed(value, on: .crm, at: observation.stamp, state: &state)
            decision.fields[engine.field.name] = state
        }
        decision.needsMasterFetch = true
        decision.explanations["*"] = "linked through its master_deal_id field: MasterDeal is read before deciding"
        return decision
    }

    // MARK: Deletes

    func decideDelete(_ observation: Observation, link: LinkSnapshot, decision: RecordDecision, cause: String) -> RecordDecision {
        var decision = decision
        guard observation.side == .crm, link.isActive else {
            decision.explanations["*"] =
                observation.side == .master ? "MasterDeal deals are not deleted by sync" : "the link has already ended"
            return decision
        }
        let rule: String
        let outcome: String
        switch mapping.deletes {
        case .ignore:
            rule = "on_delete:ignore"
            outcome = "deleted in the CRM: ignored, the link is kept"
        case .unlink:
            rule = "on_delete:unlink"
            outcome = "deleted in the CRM: link ended, the MasterDeal deal is kept"
            decision.linkChange = .unlink
        case .propagate(let stage):
            rule = "on_delete:propagate"
            outcome = "deleted in the CRM: link ended, the MasterDeal deal moved to '\(stage)'"
            decision.linkChange = .unlink
            let values: [String: FieldValue] = ["stage": .text(stage)]
            let key = IdempotencyKey.make(
                target: masterConnector, record: link.recordKey(for: .master), operation: "update",
                values: values, cause: cause)
            // The mapping's stage field, when it has one, names the change (the decision feed tells it).
            let stageField = mapping.fields.first { $0.master == "stage" }?.name ?? "stage"
            decision.writes.append(
                .init(
                    side: .master, operation: .update, values: values, fields: [stageField: .text(stage)],
                    recordKey: link.recordKey(for: .master), idempotencyKey: key))
        }
        decision.entries.append(DivergenceEntry(kind: .delete, crmAt: observation.stamp, rule: rule, outcome: outcome))
        decision.explanations["*"] = outcome
        return decision
    }
}

extension RecordDecider {
    // MARK: Drift repair

    /// Writes the decided value of `fields` to every side whose freshly read record disagrees with it, even when
    /// the field state believes the side already holds it (drift: a change the state never saw).
    public func repair(fields names: [String], fresh: [Side: Observation], link: LinkSnapshot, cause: String) -> RecordDecision {
        var decision = RecordDecision(fields: link.fields)
        guard link.isActive else { return decision }
        var outcomes: [String: FieldEngine.Outcome] = [:]
        for engine in engines where names.contains(engine.field.name) {
            guard let state = decision.fields[engine.field.name], let decided = state.decided else { continue }
            var outcome = FieldEngine.Outcome()
            for side in Side.allCases where engine.field.direction.accepts(changeFrom: side.other) {
                guard let observation = fresh[side], let value = Self.value(of: engine.transformer, in: observation),
                    !engine.transformer.agrees(value, on: side, with: decided),
                    case .success(let projected) = engine.transformer.project(decided, to: side)
                else { continue }
                outcome.writes[side] = projected
            }
            if !outcome.writes.isEmpty {
                outcome.explanation = "drift repaired: the decided value is written where the side differs"
                outcomes[engine.field.name] = outcome
            }
        }
        collect(outcomes, into: &decision, link: link, operation: .update, cause: cause)
        return decision
    }
}
