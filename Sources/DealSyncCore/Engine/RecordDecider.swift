/// Applies a mapping's field rules to one observation of one linked record.
///
/// Pure: given the observation and the link's stored state it returns the new state, the writes (with their
/// idempotency keys), the divergence entries and any change to the link. The store commits all of it in one
/// transaction.
public struct RecordDecider: Sendable {
    public let mapping: Mapping
    /// The CRM connector id and the MasterDeal connector id: the targets of writes.
    public let crmConnector: String
    public let masterConnector: String
    let engines: [FieldEngine]

    public init(mapping: Mapping, crmConnector: String, masterConnector: String) {
        self.mapping = mapping
        self.crmConnector = crmConnector
        self.masterConnector = masterConnector
        self.engines = mapping.fields.map { FieldEngine(transformer: FieldTransformer(field: $0, mapping: mapping)) }
    }

    func target(_ side: Side) -> String { side == .master ? masterConnector : crmConnector }

    /// What a write sent to `side`, by the mapping's field names, in canonical form (a CRM's status id as the
    /// stage MasterDeal names); a value the mapping cannot read back stays as sent. (The decision feed tells
    /// decisions this way.)
    public func canonical(_ sent: [String: FieldValue], sentTo side: Side) -> [String: FieldValue] {
        var fields: [String: FieldValue] = [:]
        for (name, value) in sent {
            if let engine = engines.first(where: { $0.field.name == name }),
                case .success(let canonical) = engine.transformer.canonical(value, from: side)
            {
                fields[name] = canonical
            } else {
                fields[name] = value
            }
        }
        return fields
    }

    // MARK: Observations of linked records

    /// Decides an observation of a record that is linked (or whose link is being created).
    ///
    /// `cause` identifies the observation (inbox row and index): it makes the idempotency keys deterministic.
    public func decide(_ observation: Observation, link: LinkSnapshot, cause: String) -> RecordDecision {
        var decision = RecordDecision(fields: link.fields)
        if observation.action == .delete {
            return decideDelete(observation, link: link, decision: decision, cause: cause)
        }
        if !link.isActive {
            guard observation.action == .restore, observation.side == .crm else {
                decision.explanations["*"] = "the link has ended: nothing is synced"
                return decision
            }
            decision.linkChange = .relink
            decision.entries.append(DivergenceEntry(kind: .delete, rule: "on_delete", outcome: "restored in the CRM: sync resumed"))
        }
        guard let stamp = observation.stamp else {
            decision.explanations["*"] = "the observation carries no timestamp: it cannot be ordered"
            return decision
        }
        var outcomes: [String: FieldEngine.Outcome] = [:]
        for engine in engines {
            let transformer = engine.transformer
            guard let value = Self.value(of: transformer, in: observation) else { continue }
            var state = decision.fields[engine.field.name] ?? FieldState()
            outcomes[engine.field.name] = engine.observe(value, from: observation.side, at: stamp, state: &state)
            decision.fields[engine.field.name] = state
        }
        collect(outcomes, into: &decision, link: link, operation: .update, cause: cause)
        return decision
    }

    /// Re-decides a link without a new observation: enqueues whatever the decided values still need.
    public func converge(link: LinkSnapshot, cause: String) -> RecordDecision {
        var decision = RecordDecision(fields: link.fields)
        guard link.isActive else { return decision }
        var outcomes: [String: FieldEngine.Outcome] = [:]
        for engine in engines {
            guard var state = decision.fields[engine.field.name] else { continue }
            var outcome = FieldEngine.Outcome()
            engine.converge(&state, outcome: &outcome)
            outcomes[engine.field.name] = outcome
            decision.fields[engine.field.name] = state
        }
        collect(outcomes, into: &decision, link: link, operation: .update, cause: cause)
        return decision
    }

    /// A target confirmed the write with `key` (at `landedAt` in its clock, when it said).
    ///
    /// `values` are the write's values in the target's representation: a field whose write is no longer pending
    /// (its echo came first) still learns what the target held when.
    public func confirmed(
        key: String, on side: Side, landedAt: SourceStamp?, values: [String: FieldValue] = [:],
        link: LinkSnapshot, cause: String
    ) -> RecordDecision {
        var decision = RecordDecision(fields: link.fields)
        var outcomes: [String: FieldEngine.Outcome] = [:]
        for engine in engines {
            guard var state = decision.fields[engine.field.name] else { continue }
            let written = side == .master ? engine.transformer.masterValue(in: values) : engine.transformer.crmValue(in: values)
            outcomes[engine.field.name] = engine.confirmed(key: key, on: side, landedAt: landedAt, value: written, state: &state)
            decision.fields[engine.field.name] = state
        }
        if link.isActive { collect(outcomes, into: &decision, link: link, operation: .update, cause: cause) }
        return decision
    }

    /// The write with `key` will never land: forget its pending values (no new writes are made).
    public func abandoned(key: String, on side: Side, link: LinkSnapshot) -> [String: FieldState] {
        var fields = link.fields
        for engine in engines {
            guard var state = fields[engine.field.name] else { continue }
            engine.abandoned(key: key, on: side, state: &state)
            fields[engine.field.name] = state
        }
        return fields
    }

    /// The field's value in an observation: absent from a complete record means empty.
    static func value(of transformer: FieldTransformer, in observation: Observation) -> FieldValue? {
        let value =
            observation.side == .master
            ? transformer.masterValue(in: observation.fields)
            : transformer.crmValue(in: observation.fields)
        return value ?? (observation.isComplete ? transformer.absent(on: observation.side) : nil)
    }

    // MARK: Collecting writes

    /// Groups the per-field writes into one outbox row per side, with keys, and records them as pending.
    func collect(
        _ outcomes: [String: FieldEngine.Outcome], into decision: inout RecordDecision, link: LinkSnapshot,
        operation: RecordDecision.Operation, cause: String, extra: [Side: [String: FieldValue]] = [:]
    ) {
        for engine in engines {
            guard let outcome = outcomes[engine.field.name] else { continue }
            let entries = engine.field.pii ? outcome.entries.map { $0.masked() } : outcome.entries
            decision.entries += entries
            if !outcome.explanation.isEmpty { decision.explanations[engine.field.name] = outcome.explanation }
        }
        for side in Side.allCases {
            var values = extra[side] ?? [:]
            var fieldValues: [String: FieldValue] = [:]
            for engine in engines {
                guard let value = outcomes[engine.field.name]?.writes[side] else { continue }
                values[engine.transformer.key(on: side)] = value
                fieldValues[engine.field.name] = value
            }
            guard !values.isEmpty else { continue }
            let recordKey = link.recordKey(for: side)
            let key = IdempotencyKey.make(
                target: target(side), record: recordKey, operation: operation.rawValue,
                values: values, cause: cause)
            decision.writes.append(
                .init(
                    side: side, operation: operation, values: values, fields: fieldValues,
                    recordKey: recordKey, idempotencyKey: key))
            for engine in engines {
                guard let value = fieldValues[engine.field.name], var state = decision.fields[engine.field.name] else { continue }
                engine.enqueued(value, to: side, key: key, state: &state)
                decision.fields[engine.field.name] = state
            }
        }
    }
}

extension RecordDecider {
    // MARK: Writes refused because the record moved on

    /// `side` refused our writes `keys` because its record changed after the version they were based on
    /// (MasterDeal answers 412 to an `If-Match` on an older version).
    ///
    /// The refused writes are forgotten; `current`, the record as the side holds it now, is weighed like any
    /// observation (a field the side really changed meets the field's rule); then every field is converged, not
    /// only the ones `current` changed: a refused write carried decided values the side never received, and a
    /// field the side did not touch reads as "unchanged" there, so without this its decided value would never be
    /// written again.
    public func refused(keys: [String], on side: Side, current: Observation?, link: LinkSnapshot, cause: String) -> RecordDecision {
        var refusedLink = link
        for key in keys { refusedLink.fields = abandoned(key: key, on: side, link: refusedLink) }
        var decision = RecordDecision(fields: refusedLink.fields)
        guard link.isActive else {
            decision.explanations["*"] = "our write was refused and the link has ended: nothing is synced"
            return decision
        }
        let observed = current.flatMap { $0.action == .upsert && $0.side == side ? $0 : nil }
        var outcomes: [String: FieldEngine.Outcome] = [:]
        for engine in engines {
            var state = decision.fields[engine.field.name] ?? FieldState()
            var outcome = FieldEngine.Outcome()
            if let observed, let stamp = observed.stamp, let value = Self.value(of: engine.transformer, in: observed) {
                outcome = engine.observe(value, from: side, at: stamp, state: &state)
            }
            let before = outcome.writes
            engine.converge(&state, outcome: &outcome)
            if outcome.writes != before {
                outcome.explanation = "our write was refused (the record had moved on): the decided value is written again"
            }
            guard state != FieldState() else { continue }
            outcomes[engine.field.name] = outcome
            decision.fields[engine.field.name] = state
        }
        collect(outcomes, into: &decision, link: link, operation: .update, cause: cause)
        return decision
    }
}
