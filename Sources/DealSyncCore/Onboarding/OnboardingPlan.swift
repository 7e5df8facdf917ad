/// What onboarding one CRM connector does with the records both sides already hold: which pairs it links (by the
/// link field, then by the mapping's matching keys), which records it creates on the other side, which it leaves
/// alone and why. Worked out from what was read, by ``OnboardingPlanner``; pure.
public struct OnboardingPlan: Sendable {
    /// How a pair was found.
    public enum Match: Sendable, Hashable, CustomStringConvertible {
        /// The CRM record carries the deal's id in the link field.
        case linkField
        /// A matching key (its name, `phone` or `title + owner`).
        case key(String)

        public var description: String {
            switch self {
            case .linkField: "link field"
            case .key(let name): "key \(name)"
            }
        }
    }

    /// A CRM record and a MasterDeal deal to link.
    public struct Pair: Sendable {
        public var crm: Observation
        public var master: Observation
        public var match: Match
    }

    /// A record that matched more than one record on the other side by `key`: reported, never guessed.
    public struct Ambiguity: Sendable, Equatable {
        public var side: Side
        public var recordID: String
        public var key: String
        /// The ids on the other side it matched, sorted.
        public var candidates: [String]
    }

    /// A record left unlinked and not created, with why.
    public struct Left: Sendable, Equatable {
        public var side: Side
        public var recordID: String
        public var reason: String
    }

    /// A CRM record whose link field names a deal that cannot be linked (unknown to MasterDeal's account, or
    /// named by another record too).
    public struct LinkProblem: Sendable, Equatable {
        public var recordID: String
        public var masterDealID: String
        public var reason: String
    }

    public var connector: String
    /// How many records each side holds (the latest state of each, once).
    public var read: [Side: Int] = [:]
    /// Pairs dealsync links already.
    public var alreadyLinked = 0
    public var pairs: [Pair] = []
    /// CRM records to create as MasterDeal deals.
    public var createInMaster: [Observation] = []
    /// MasterDeal deals to create in the CRM.
    public var createInCRM: [Observation] = []
    public var ambiguous: [Ambiguity] = []
    public var left: [Left] = []
    public var problems: [LinkProblem] = []
    /// Unlinked records outside the mapping's scope, per side: left alone until they move into it.
    public var outOfScope: [Side: Int] = [:]

    /// The records onboarding leaves unlinked for good: the pipeline must never create them on the other side.
    public var holds: [LinkBook.Hold] {
        ambiguous.map {
            LinkBook.Hold(
                connector: connector, side: $0.side, recordID: $0.recordID, kind: .ambiguous,
                reason:
                    "matches \($0.candidates.count) \($0.side == .crm ? "deals" : "records") by \($0.key) (\($0.candidates.prefix(5).joined(separator: ", "))): link it through its link field"
            )
        }
            + left.map {
                LinkBook.Hold(connector: connector, side: $0.side, recordID: $0.recordID, kind: .unmatched, reason: $0.reason)
            }
    }

    /// Pairs by how they were found.
    public var linkedByLinkField: Int { pairs.count { $0.match == .linkField } }
    public var linkedByKey: Int { pairs.count { $0.match != .linkField } }
}

/// Works out an ``OnboardingPlan`` for one connector's lane from the records read on both sides. Pure.
public struct OnboardingPlanner: Sendable {
    public let lane: SyncSetup.Lane

    public init(lane: SyncSetup.Lane) {
        self.lane = lane
    }

    var mapping: Mapping { lane.mapping }

    /// `crm`: the connector's records; `master`: MasterDeal's deals (other accounts' are ignored); `links`: the
    /// connector's links that exist already. Records read twice count once, in their latest state.
    public func plan(crm: [Observation], master: [Observation], links: [(masterDealID: String?, recordID: String?)]) -> OnboardingPlan {
        var plan = OnboardingPlan(connector: lane.connector)
        let records = Self.latest(crm.filter { $0.side == .crm && $0.connector == lane.connector && $0.action == .upsert })
        let deals = Self.latest(master.filter { $0.side == .master && $0.action == .upsert && lane.carries(account: $0.account) })
        plan.read = [.crm: records.count, .master: deals.count]
        let linkedRecords = Set(links.compactMap(\.recordID)), linkedDeals = Set(links.compactMap(\.masterDealID))
        plan.alreadyLinked = records.count { linkedRecords.contains($0.recordID) }
        var openRecords = records.filter { !linkedRecords.contains($0.recordID) }
        var openDeals = deals.filter { !linkedDeals.contains($0.recordID) }

        // The link field first: a record naming a deal of this account that nobody else names.
        let dealsByID = Dictionary(openDeals.map { ($0.recordID, $0) }, uniquingKeysWith: { first, _ in first })
        let naming = Dictionary(grouping: openRecords.filter { !($0.linkedMasterID ?? "").isEmpty }, by: { $0.linkedMasterID ?? "" })
        var decided: Set<String> = [], dealsDecided: Set<String> = []
        for (dealID, namers) in naming.sorted(by: { $0.key < $1.key }) {
            if linkedDeals.contains(dealID) {
                for record in namers {
                    plan.problems.append(
                        .init(recordID: record.recordID, masterDealID: dealID, reason: "deal \(dealID) is already linked to another record")
                    )
                    decided.insert(record.recordID)
                }
            } else if dealsByID[dealID] == nil {
                for record in namers {
                    plan.problems.append(
                        .init(
                            recordID: record.recordID, masterDealID: dealID,
                            reason: "its link field names deal \(dealID), which MasterDeal does not hold in this connector's account"))
                    decided.insert(record.recordID)
                }
            } else if namers.count > 1 {
                for record in namers {
                    plan.ambiguous.append(
                        .init(side: .crm, recordID: record.recordID, key: "link field", candidates: [dealID]))
                    decided.insert(record.recordID)
                }
                plan.ambiguous.append(
                    .init(side: .master, recordID: dealID, key: "link field", candidates: namers.map(\.recordID).sorted()))
                dealsDecided.insert(dealID)
            } else if let record = namers.first, let deal = dealsByID[dealID] {
                plan.pairs.append(.init(crm: record, master: deal, match: .linkField))
                decided.insert(record.recordID)
                dealsDecided.insert(dealID)
            }
        }
        openRecords.removeAll { decided.contains($0.recordID) }
        openDeals.removeAll { dealsDecided.contains($0.recordID) }

        // Scope: records outside it take no part until they move into it.
        plan.outOfScope = [
            .crm: openRecords.count { !mapping.inScope($0) }, .master: openDeals.count { !mapping.inScope($0) },
        ]
        openRecords.removeAll { !mapping.inScope($0) }
        openDeals.removeAll { !mapping.inScope($0) }

        // Then each key in turn, over what is still open.
        for key in mapping.matching.keys {
            let recordsByValue = Dictionary(grouping: openRecords.compactMap { r in value(of: key, in: r).map { ($0, r) } }, by: \.0)
            let dealsByValue = Dictionary(grouping: openDeals.compactMap { d in value(of: key, in: d).map { ($0, d) } }, by: \.0)
            var recordsDone: Set<String> = [], dealsDone: Set<String> = []
            for (text, recordsWith) in recordsByValue.sorted(by: { $0.key < $1.key }) {
                guard let dealsWith = dealsByValue[text] else { continue }
                let recordIDs = recordsWith.map(\.1.recordID).sorted(), dealIDs = dealsWith.map(\.1.recordID).sorted()
                if recordsWith.count == 1, dealsWith.count == 1 {
                    plan.pairs.append(.init(crm: recordsWith[0].1, master: dealsWith[0].1, match: .key(key.name)))
                } else {
                    for id in recordIDs { plan.ambiguous.append(.init(side: .crm, recordID: id, key: key.name, candidates: dealIDs)) }
                    for id in dealIDs { plan.ambiguous.append(.init(side: .master, recordID: id, key: key.name, candidates: recordIDs)) }
                }
                recordsDone.formUnion(recordIDs)
                dealsDone.formUnion(dealIDs)
            }
            openRecords.removeAll { recordsDone.contains($0.recordID) }
            openDeals.removeAll { dealsDone.contains($0.recordID) }
        }

        // What matched nothing is created on the other side, or left.
        let leave = mapping.matching.noMatch == .leave
        for record in openRecords {
            if !leave, mapping.create.inMaster, lane.masterAccount != nil {
                plan.createInMaster.append(record)
            } else {
                let why =
                    leave
                    ? "matched no deal; the mapping says matching.no_match: leave"
                    : lane.masterAccount == nil
                        ? "matched no deal; the connector names no MasterDeal account to create it in"
                        : "matched no deal; the mapping says create.in_master: false"
                plan.left.append(.init(side: .crm, recordID: record.recordID, reason: why))
            }
        }
        for deal in openDeals {
            if !leave, mapping.create.inCRM {
                plan.createInCRM.append(deal)
            } else {
                let why =
                    leave
                    ? "matched no record in \(lane.connector); the mapping says matching.no_match: leave"
                    : "matched no record in \(lane.connector); the mapping says create.in_crm: false"
                plan.left.append(.init(side: .master, recordID: deal.recordID, reason: why))
            }
        }
        return plan
    }

    /// `key`'s normalised value in `observation`, or `nil` when one of its fields is empty or unknown there.
    func value(of key: MatchingRules.Key, in observation: Observation) -> String? {
        var parts: [String] = []
        for name in key.fields {
            guard let field = mapping.field(named: name) else { return nil }
            let transformer = FieldTransformer(field: field, mapping: mapping)
            let canonical: FieldValue?
            switch observation.side {
            case .master:
                canonical = transformer.masterValue(in: observation.fields)
            case .crm:
                canonical = transformer.crmValue(in: observation.fields).flatMap { try? transformer.canonical($0, from: .crm).get() }
            }
            guard let text = canonical?.matchingText else { return nil }
            let normalised = key.normalise.apply(text)
            guard !normalised.isEmpty else { return nil }
            parts.append(normalised)
        }
        return parts.joined(separator: "\u{1F}")
    }

    /// One observation per record, the latest by stamp (a paged read can see a record twice), in first-seen order.
    static func latest(_ observations: [Observation]) -> [Observation] {
        var order: [String] = []
        var byID: [String: Observation] = [:]
        for observation in observations {
            guard let seen = byID[observation.recordID] else {
                order.append(observation.recordID)
                byID[observation.recordID] = observation
                continue
            }
            if (observation.stamp?.millis ?? 0) >= (seen.stamp?.millis ?? 0) { byID[observation.recordID] = observation }
        }
        return order.compactMap { byID[$0] }
    }
}
