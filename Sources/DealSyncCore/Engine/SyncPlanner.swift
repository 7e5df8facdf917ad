/// Decides observations against a ``LinkBook``: the link policy says which link (or new link) each one concerns,
/// the lane's ``RecordDecider`` decides it, and the book and the effects to store are updated. Pure: the store
/// loads the book, runs the planner over a whole batch and writes back the book's changes and the effects in one
/// transaction.
public struct SyncPlanner: Sendable {
    public let setup: SyncSetup
    public let policy: LinkPolicy

    public init(setup: SyncSetup, maxAttempts: Int) {
        self.setup = setup
        self.policy = LinkPolicy(setup: setup, maxAttempts: maxAttempts)
    }

    /// Writes of one link that their target refused because the record had moved on (MasterDeal's 412).
    public struct Refusal: Sendable, Equatable {
        public var linkID: Int64
        public var side: Side
        public var keys: [String]

        public init(linkID: Int64, side: Side, keys: [String]) {
            self.linkID = linkID
            self.side = side
            self.keys = keys
        }
    }

    /// What deciding observations caused, besides the changes to the book.
    public struct Effects: Sendable, Equatable {
        /// An outbox row to add.
        public struct Write: Sendable, Equatable {
            public var linkID: Int64
            public var target: String
            public var write: RecordDecision.Write

            public init(linkID: Int64, target: String, write: RecordDecision.Write) {
                self.linkID = linkID
                self.target = target
                self.write = write
            }
        }

        /// A divergence log entry, with the link it concerns as it was then.
        public struct Logged: Sendable, Equatable {
            public var connector: String
            public var masterDealID: String?
            public var recordID: String?
            public var entry: DivergenceEntry

            public init(connector: String, masterDealID: String?, recordID: String?, entry: DivergenceEntry) {
                self.connector = connector
                self.masterDealID = masterDealID
                self.recordID = recordID
                self.entry = entry
            }
        }

        public var writes: [Write] = []
        public var entries: [Logged] = []
        /// MasterDeal deals to read again before their links can be decided (adopted CRM records).
        public var refetches: [String] = []
        /// Links whose writes still waiting for `target` must never land (the link ended).
        public var cancelled: [(linkID: Int64, target: String)] = []
        /// Per link and field, why the engine did what it did (for `dealsync explain`).
        public var explanations: [Int64: [String: String]] = [:]
        /// The links decided, in order.
        public var touched: [Int64] = []

        public init() {}

        public static func == (lhs: Effects, rhs: Effects) -> Bool {
            lhs.writes == rhs.writes && lhs.entries == rhs.entries && lhs.refetches == rhs.refetches
                && lhs.cancelled.map(\.linkID) == rhs.cancelled.map(\.linkID)
                && lhs.cancelled.map(\.target) == rhs.cancelled.map(\.target) && lhs.explanations == rhs.explanations
                && lhs.touched == rhs.touched
        }

        public mutating func append(_ other: Effects) {
            writes += other.writes
            entries += other.entries
            refetches += other.refetches
            cancelled += other.cancelled
            explanations.merge(other.explanations) { $1 }
            touched += other.touched
        }
    }

    public enum Outcome: Sendable, Equatable {
        case applied(Effects)
        /// The observation must wait (its inbox row is tried again later); nothing in the book changed.
        case wait(String)
    }

    /// Decides one observation into `book`. `cause` makes its idempotency keys deterministic; `attempts` is how
    /// often its inbox row was tried; `refusal` re-decides a link whose writes were refused.
    public func apply(
        _ observation: Observation, cause: String, attempts: Int, refusal: Refusal? = nil,
        book: inout LinkBook
    ) throws(LinkPolicy.UnknownConnector) -> Outcome {
        let actions = try policy.actions(for: observation, in: book, attempts: attempts)
        if case .wait(let reason)? = actions.first(where: { if case .wait = $0 { true } else { false } }) {
            return .wait(reason)
        }
        var trial = book
        var effects = Effects()
        for action in actions {
            apply(action, observation, cause: cause, refusal: refusal, book: &trial, effects: &effects)
        }
        book = trial
        return .applied(effects)
    }

    /// Carries out a link action chosen outside the policy: onboarding creates the records it planned to, for its
    /// connector only.
    public func perform(
        _ action: LinkPolicy.Action, _ observation: Observation, cause: String, book: inout LinkBook, effects: inout Effects
    ) {
        apply(action, observation, cause: cause, refusal: nil, book: &book, effects: &effects)
    }

    private func apply(
        _ action: LinkPolicy.Action, _ observation: Observation, cause: String, refusal: Refusal?,
        book: inout LinkBook, effects: inout Effects
    ) {
        switch action {
        case .decide(let id), .attachRecord(let id):
            guard var link = book[id], let lane = setup.lane(link.connector) else { return }
            if case .attachRecord = action { link.recordID = observation.recordID }
            let decision: RecordDecision
            if let refusal, refusal.linkID == id {
                decision = lane.decider.refused(
                    keys: refusal.keys, on: refusal.side, current: observation, link: link.snapshot, cause: cause)
            } else {
                decision = lane.decider.decide(observation, link: link.snapshot, cause: cause)
            }
            if observation.side == .master, let version = observation.stamp?.version, version > (link.masterVersion ?? 0) {
                link.masterVersion = version
            }
            commit(decision, link: link, lane: lane, book: &book, effects: &effects)
        case .createInCRM(let connector):
            guard let lane = setup.lane(connector),
                var link = book.create(connector: connector, masterDealID: observation.recordID, recordID: nil)
            else { return }
            link.masterVersion = observation.stamp?.version
            commit(
                lane.decider.createInCRM(from: observation, link: link.snapshot, cause: cause), link: link, lane: lane,
                book: &book, effects: &effects)
        case .createInMaster(let connector):
            guard let lane = setup.lane(connector), let account = lane.masterAccount,
                let link = book.create(connector: connector, masterDealID: nil, recordID: observation.recordID)
            else { return }
            commit(
                lane.decider.createInMaster(from: observation, link: link.snapshot, account: account, cause: cause), link: link,
                lane: lane, book: &book, effects: &effects)
        case .adopt(let connector, let masterID):
            guard let lane = setup.lane(connector),
                let link = book.create(connector: connector, masterDealID: masterID, recordID: observation.recordID)
            else { return }
            commit(lane.decider.adopt(observation, link: link.snapshot), link: link, lane: lane, book: &book, effects: &effects)
            effects.refetches.append(masterID)
        case .problem(let connector, let masterID, let recordID, let reason):
            guard let lane = setup.lane(connector) else { return }
            effects.entries.append(
                .init(
                    connector: connector, masterDealID: masterID, recordID: recordID,
                    entry: DivergenceEntry(
                        kind: .unmappedValue, field: lane.mapping.linkField, masterValue: .text(masterID),
                        crmValue: recordID.map(FieldValue.text), rule: "link", outcome: reason)))
        case .wait:
            break
        }
    }

    /// Applies a link's decision to the book and collects its writes and log entries.
    public func commit(
        _ decision: RecordDecision, link: LinkBook.Entry, lane: SyncSetup.Lane, book: inout LinkBook,
        effects: inout Effects
    ) {
        var link = link
        switch decision.linkChange {
        case .unlink?:
            link.isActive = false
            effects.cancelled.append((link.id, lane.connector))
        case .relink?:
            link.isActive = true
        case nil:
            break
        }
        link.fields = decision.fields
        book.update(link)
        effects.touched.append(link.id)
        for write in decision.writes {
            effects.writes.append(
                .init(linkID: link.id, target: write.side == .master ? setup.masterConnector : lane.connector, write: write))
        }
        for entry in decision.entries {
            effects.entries.append(.init(connector: lane.connector, masterDealID: link.masterDealID, recordID: link.recordID, entry: entry))
        }
        if !decision.explanations.isEmpty { effects.explanations[link.id, default: [:]].merge(decision.explanations) { $1 } }
    }
}
