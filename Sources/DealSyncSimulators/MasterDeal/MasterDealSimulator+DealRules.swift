extension MasterDealSimulator {
    /// The business rules of the configured funnel: allowed stages and transitions, and which events a change
    /// causes. Pure: no clock, no I/O.
    struct DealRules: Sendable {
        var stages: [String]
        /// from → allowed targets; nil allows any transition between known stages.
        var transitions: [String: [String]]?
        var wonStages: [String]
        var lostStages: [String]

        init(_ configuration: Configuration) {
            stages = configuration.stages
            transitions = configuration.transitions
            wonStages = configuration.wonStages
            lostStages = configuration.lostStages
        }

        /// Throws `invalid-stage-transition` unless `from → to` is allowed. Staying put is always allowed.
        func checkTransition(from: String, to: String) throws {
            guard from != to, let transitions else { return }
            let allowed = transitions[from] ?? []
            if !allowed.contains(to) {
                throw Problem.invalidStageTransition(from: from, to: to, allowed: allowed)
            }
        }

        /// The events a change causes: create → `DealCreated`; stage change → `StageChanged` (+ `DealClosedWon` /
        /// `DealClosedLost` for a won / lost stage); owner change → `OwnerChanged`; anything else → none.
        func events(before: Deal?, after: Deal, source: String, reason: String? = nil) -> [Event] {
            let at = after.updatedAt
            guard let before else { return [Event(type: .dealCreated, occurredAt: at, source: source, deal: after)] }
            var events: [Event] = []
            if before.stage != after.stage {
                events.append(
                    Event(
                        type: .stageChanged, occurredAt: at, source: source, deal: after,
                        previousStage: before.stage, reason: reason))
                if wonStages.contains(after.stage) {
                    events.append(Event(type: .dealClosedWon, occurredAt: at, source: source, deal: after))
                } else if lostStages.contains(after.stage) {
                    events.append(Event(type: .dealClosedLost, occurredAt: at, source: source, deal: after))
                }
            }
            if before.ownerID != after.ownerID {
                events.append(
                    Event(
                        type: .ownerChanged, occurredAt: at, source: source, deal: after,
                        previousOwnerID: before.ownerID))
            }
            return events
        }
    }
}
