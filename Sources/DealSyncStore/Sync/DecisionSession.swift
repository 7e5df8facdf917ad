import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// One transaction's decisions: the links it touches are locked and loaded once, everything is decided in
/// memory with the ``SyncPlanner``, and what changed is written back set-based by ``save()``.
///
/// The inbox decides a whole batch of rows in one session; a delivery outcome, a refused write and a drift
/// repair each decide one link in one.
struct DecisionSession {
    let context: SyncContext
    let tx: PostgresConnection
    private(set) var book: LinkBook
    private let before: LinkBook
    private var caused: [SyncEffectsRecords.Caused] = []
    private var lineages: [Int64: UUID] = [:]

    /// Locks the advisory keys of `keys` (in a fixed order), then reads and row-locks their links (without `holds`,
    /// not onboarding's holds: see ``LinkBookRecords/load(_:reserve:holds:masterTarget:memo:on:logger:)``).
    static func open(
        _ context: SyncContext, keys: LinkBookRecords.Keys, reserve: Int, holds: Bool = true, on tx: PostgresConnection
    ) async throws -> DecisionSession {
        try await LinkBookRecords.lock(keys.lockNames, on: tx, logger: context.logger)
        let book = try await LinkBookRecords.load(
            keys, reserve: reserve, holds: holds, masterTarget: context.setup.masterConnector, memo: context.fieldStates, on: tx,
            logger: context.logger)
        return DecisionSession(context: context, tx: tx, book: book, before: book)
    }

    private init(context: SyncContext, tx: PostgresConnection, book: LinkBook, before: LinkBook) {
        self.context = context
        self.tx = tx
        self.book = book
        self.before = before
    }

    /// What deciding one inbox row (or one set of observations) did.
    enum Result {
        /// `entries`: what the divergence log got, with each entry's field rule (for traces and metrics).
        case decided(writes: Int, entries: [(connector: String, kind: DivergenceEntry.Kind, rule: String?)])
        /// Nothing was changed; the row is tried again later.
        case waited(String)
        /// The observations cannot be decided (a connector without a mapping); nothing was changed.
        case failed(String)
    }

    /// Decides `observations` in order, as one unit: all of it is kept, or (when one must wait) none of it.
    /// Observation `i` gets the cause `"\(cause):\(i)"`, which makes its idempotency keys deterministic.
    mutating func decide(
        _ observations: [Observation], cause: String, lineage: UUID, inboxID: Int64?, attempts: Int,
        refusal: SyncPlanner.Refusal? = nil
    ) -> Result {
        var trial = book
        var effects = SyncPlanner.Effects()
        for (index, observation) in observations.enumerated() {
            do {
                switch try context.planner.apply(
                    observation, cause: "\(cause):\(index)", attempts: attempts, refusal: refusal, book: &trial)
                {
                case .applied(let more): effects.append(more)
                case .wait(let reason): return .waited(reason)
                }
            } catch {
                return .failed(error.description)
            }
        }
        book = trial
        return record(effects, lineage: lineage, inboxID: inboxID)
    }

    /// Applies a decision made outside the planner (a confirmation, a refusal with nothing read again, a
    /// repair) to link `id`.
    mutating func commit(_ decision: RecordDecision, link id: Int64, lineage: UUID) -> Result {
        guard let link = book[id], let lane = context.setup.lane(link.connector) else { return .decided(writes: 0, entries: []) }
        var effects = SyncPlanner.Effects()
        context.planner.commit(decision, link: link, lane: lane, book: &book, effects: &effects)
        return record(effects, lineage: lineage, inboxID: nil)
    }

    /// Onboarding: carries out `action` for `observation` (a create it planned).
    mutating func perform(_ action: LinkPolicy.Action, _ observation: Observation, cause: String, lineage: UUID) -> Result {
        var effects = SyncPlanner.Effects()
        context.planner.perform(action, observation, cause: cause, book: &book, effects: &effects)
        return record(effects, lineage: lineage, inboxID: nil)
    }

    /// Onboarding: links a CRM record and a MasterDeal deal that both existed, deciding both at once.
    mutating func link(crm: Observation, master: Observation, connector: String, cause: String, lineage: UUID) -> Result {
        guard let lane = context.setup.lane(connector),
            var link = book.create(connector: connector, masterDealID: master.recordID, recordID: crm.recordID)
        else { return .failed("no mapping for connector \(connector)") }
        link.masterVersion = master.stamp?.version
        var effects = SyncPlanner.Effects()
        let decision = lane.decider.onboard(crm: crm, master: master, link: link.snapshot, cause: cause)
        context.planner.commit(decision, link: link, lane: lane, book: &book, effects: &effects)
        return record(effects, lineage: lineage, inboxID: nil)
    }

    /// Adds divergence entries no decision made (onboarding's ambiguous matches).
    mutating func log(_ entries: [SyncPlanner.Effects.Logged], lineage: UUID) {
        guard !entries.isEmpty else { return }
        var effects = SyncPlanner.Effects()
        effects.entries = entries
        caused.append(.init(effects: effects, lineage: lineage, inboxID: nil))
    }

    /// Adds a write of link `id` that no decision made (the link field written back after a create).
    mutating func add(_ write: RecordDecision.Write, link id: Int64, target: String, lineage: UUID) {
        var effects = SyncPlanner.Effects()
        effects.writes.append(.init(linkID: id, target: target, write: write))
        caused.append(.init(effects: effects, lineage: lineage, inboxID: nil))
    }

    /// Updates link `id` directly (a create's confirmation teaches it the new record's id or version).
    mutating func update(link id: Int64, _ change: (inout LinkBook.Entry) -> Void) {
        guard var link = book[id] else { return }
        change(&link)
        book.update(link)
    }

    private mutating func record(_ effects: SyncPlanner.Effects, lineage: UUID, inboxID: Int64?) -> Result {
        for id in effects.touched { lineages[id] = lineage }
        caused.append(.init(effects: effects, lineage: lineage, inboxID: inboxID))
        return .decided(writes: effects.writes.count, entries: effects.entries.map { ($0.connector, $0.entry.kind, $0.entry.rule) })
    }

    /// Writes back the links that changed and everything decided (with `statuses`, an inbox batch's rows'
    /// statuses; with `outcomes`, a relay round's) in one statement (``DecisionRecords``), and the refetch requests
    /// in another when there are any; what needs a relay or a lane woken is asked of `notices`. Returns how many
    /// outbox rows were written.
    @discardableResult
    func save(notices: Notices, statuses: DecisionRecords.Statuses? = nil, outcomes: DeliveryRecords? = nil) async throws -> Int {
        let links = LinkBookRecords.changes(book, before: before, lineages: lineages)
        // Read back by the next session of the link (the relay recording this write's outcome, its echo), it is not
        // parsed again. Remembered before the commit: a text that never commits is never read back to match it.
        for (link, text) in zip(links.states.links, links.states.texts) {
            if let fields = book[link]?.fields { context.fieldStates.remember(link: link, text: text, states: fields) }
        }
        let rows = try SyncEffectsRecords.rows(caused, setup: context.setup, links: book.entries)
        try await DecisionRecords.write(links: links, rows: rows, statuses: statuses, outcomes: outcomes, on: tx, logger: context.logger)
        // Where a crash test stops the transaction: after the state and the outbox rows were written (one
        // statement now), before the commit.
        try context.check("after-state")
        try context.check("after-outbox")
        try await SyncEffectsRecords.insertRefetches(
            caused, masterConnector: context.setup.masterConnector, notices: notices, on: tx, logger: context.logger)
        // One hint per target written to, so only its relays wake (a studio's hundred relays do not all look).
        notices.wake(.outbox, rows.writes.targets)
        return rows.writes.targets.count
    }
}
