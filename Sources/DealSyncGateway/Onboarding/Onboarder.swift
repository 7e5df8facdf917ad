import DealSyncConnectors
import DealSyncCore
import DealSyncStore
import Foundation
import Logging

/// Onboards one CRM connector whose account already holds records: reads both sides (the CRM's pages within its
/// rate limiter, MasterDeal's deals), matches them by the mapping's rules into an ``OnboardingPlan`` and applies
/// it through the sync store in steps, each one transaction (`dealsync onboard`).
public struct Onboarder: Sendable {
    public let configuration: Configuration
    public let registry: ConnectorRegistry
    public let store: OnboardingStore
    public let connector: String
    let lane: SyncSetup.Lane
    let now: @Sendable () -> Date
    /// How long to wait before asking again after the system refused a page for its rate limit (attempt 1, 2, …).
    let pause: @Sendable (Int) async throws -> Void

    /// Why a connector cannot be onboarded.
    public struct Refusal: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public init(
        configuration: Configuration, registry: ConnectorRegistry, store: OnboardingStore, connector: String,
        now: @escaping @Sendable () -> Date = { Date() },
        pause: @escaping @Sendable (Int) async throws -> Void = { attempt in
            try await Task.sleep(for: .seconds(min(1 << min(attempt - 1, 4), 16)))
        }
    ) throws(Refusal) {
        let crm = configuration.crmConnectors.map(\.id)
        guard let lane = store.context.setup.lane(connector) else {
            if configuration.masterDeal?.id == connector {
                throw Refusal(
                    description: "\(connector) is MasterDeal's connector: onboard a CRM connector (\(crm.joined(separator: ", ")))")
            }
            throw Refusal(
                description: "no CRM connector '\(connector)' with a mapping (known: \(crm.isEmpty ? "none" : crm.joined(separator: ", ")))"
            )
        }
        guard registry.connector(connector) != nil, let master = configuration.masterDeal, registry.connector(master.id) != nil else {
            throw Refusal(description: "\(connector): the connector or MasterDeal's connector could not be built")
        }
        self.configuration = configuration
        self.registry = registry
        self.store = store
        self.connector = connector
        self.lane = lane
        self.now = now
        self.pause = pause
    }

    /// How many refusals in a row make reading give up.
    static let refusalsInARow = 8

    /// Everything both sides hold, as read.
    public struct Reading: Sendable {
        public var crm: [Observation] = []
        public var master: [Observation] = []
        /// Pages read from each side (one API call each).
        public var calls: [Side: Int] = [:]
        /// Calls the side refused for its rate limit (asked again after a pause), per side.
        public var refused: [Side: Int] = [:]
        /// When the reading began (unix milliseconds).
        public var startedMillis: Int64 = 0
    }

    /// Reads both sides from the beginning of their history; `progress` hears each page (side, records so far).
    public func read(progress: @Sendable (Side, Int) -> Void = { _, _ in }) async throws -> Reading {
        var reading = Reading()
        reading.startedMillis = Int64((now().timeIntervalSince1970 * 1000).rounded(.down))
        guard let crm = registry.connector(connector), let masterID = configuration.masterDeal?.id,
            let master = registry.connector(masterID)
        else { return reading }
        let records = try await readAll(crm, side: .crm, reading: &reading, progress: progress)
        let deals = try await readAll(master, side: .master, reading: &reading, progress: progress)
        reading.crm = records
        reading.master = deals
        return reading
    }

    private func readAll(
        _ source: any Connector, side: Side, reading: inout Reading, progress: @Sendable (Side, Int) -> Void
    ) async throws -> [Observation] {
        var observations: [Observation] = []
        var refusedInARow = 0
        func decode(_ items: [InboxItem]) throws {
            for item in items {
                guard case .observations(let seen) = try source.decode(InboxRow(id: 0, item: item)) else { continue }
                observations += seen
            }
        }
        if let account = source as? any AccountReading {
            while true {
                do {
                    let (items, calls) = try await account.readAccount { progress(side, $0) }
                    reading.calls[side, default: 0] += calls
                    try decode(items)
                    return observations
                } catch let error as ConnectorError where error.status == 429 || error.status == 503 {
                    reading.refused[side, default: 0] += 1
                    refusedInARow += 1
                    guard refusedInARow < Self.refusalsInARow else { throw error }
                    try await pause(refusedInARow)
                }
            }
        }
        var cursor = source.pollCursor(startingAt: 0)
        while true {
            let page: PollResult
            do {
                page = try await source.poll(from: cursor)
                reading.calls[side, default: 0] += 1
                refusedInARow = 0
            } catch let error as ConnectorError where error.status == 429 || error.status == 503 {
                // The account's budget is shared with `serve` (and anything else using the account): wait and ask
                // for the same page again, giving up after a run of refusals.
                reading.refused[side, default: 0] += 1
                refusedInARow += 1
                guard refusedInARow < Self.refusalsInARow else { throw error }
                try await pause(refusedInARow)
                continue
            }
            try decode(page.items)
            progress(side, observations.count)
            cursor = page.cursor
            guard page.hasMore else { return observations }
        }
    }

    /// The plan for what was read, against the links that exist now, and what linking its pairs would write.
    public func plan(_ reading: Reading) async throws -> (plan: OnboardingPlan, differences: OnboardingDifferences) {
        let planner = OnboardingPlanner(lane: lane)
        let plan = planner.plan(crm: reading.crm, master: reading.master, links: try await store.links(connector: connector))
        return (plan, planner.differences(of: plan))
    }

    /// How far applying has come: steps of the plan done, of how many.
    public struct Progress: Sendable {
        public var applied: Int
        public var total: Int
        public var counts: OnboardingStore.Counts
    }

    /// Applies `plan` in steps of `stepSize` records (pairs first, then creates, then holds); resumes the run an
    /// interrupted invocation left. Returns the run and what it did over all its invocations.
    public func apply(
        _ plan: OnboardingPlan, reading: Reading, actor: String, stepSize: Int = 200,
        progress: @Sendable (Progress) -> Void = { _ in }
    ) async throws -> (run: OnboardingStore.Run, done: OnboardingStore.Counts) {
        let run = try await store.begin(
            connector: connector, actor: actor, readStartedMillis: reading.startedMillis, plan: Self.numbers(plan))
        var steps: [OnboardingStore.Step] = []
        var step = OnboardingStore.Step()
        func flush(_ force: Bool = false) {
            if step.size >= stepSize || (force && step.size > 0) {
                steps.append(step)
                step = OnboardingStore.Step()
            }
        }
        for pair in plan.pairs {
            step.pairs.append((pair.crm, pair.master))
            flush()
        }
        for record in plan.createInMaster {
            step.createInMaster.append(record)
            flush()
        }
        for deal in plan.createInCRM {
            step.createInCRM.append(deal)
            flush()
        }
        for hold in plan.holds {
            step.holds.append(hold)
            flush()
        }
        flush(true)
        let total = steps.reduce(0) { $0 + $1.size }
        var applied = 0
        var counts = run.done
        for step in steps {
            counts.add(try await store.apply(step, of: run))
            applied += step.size
            progress(Progress(applied: applied, total: total, counts: counts))
        }
        let cursor = registry.connector(connector)?.pollCursor(startingAt: reading.startedMillis - overlapMillis) ?? "{}"
        let done = try await store.finish(run, actor: actor, pollCursor: cursor, summary: Self.numbers(plan).mapValues(String.init))
        return (run, done)
    }

    private var overlapMillis: Int64 {
        guard let config = configuration.connectors.first(where: { $0.id == connector }) else { return 0 }
        let (seconds, attoseconds) = config.poll.overlap.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// The plan's numbers, by name (stored with the run and in the audit entry).
    static func numbers(_ plan: OnboardingPlan) -> [String: Int] {
        [
            "read_crm": plan.read[.crm] ?? 0, "read_master": plan.read[.master] ?? 0, "already_linked": plan.alreadyLinked,
            "link_by_link_field": plan.linkedByLinkField, "link_by_key": plan.linkedByKey,
            "create_in_master": plan.createInMaster.count, "create_in_crm": plan.createInCRM.count,
            "ambiguous": plan.ambiguous.count, "left_unlinked": plan.left.count, "link_problems": plan.problems.count,
            "out_of_scope_crm": plan.outOfScope[.crm] ?? 0, "out_of_scope_master": plan.outOfScope[.master] ?? 0,
        ]
    }
}
