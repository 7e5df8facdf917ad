import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// Onboarding's bookkeeping and its writes: a run is begun (or an interrupted one resumed), its plan applied in
/// steps, each step one transaction through the sync store (links, field state, outbox rows with their
/// idempotency keys, divergence entries, holds), and finished with the poll cursor and an audit entry.
///
/// Every step is safe to do twice: a pair or a create whose record is linked already is skipped, a hold is
/// inserted once. A run killed half-way and begun again ends as an uninterrupted one.
public struct OnboardingStore: Sendable {
    public let context: SyncContext

    public init(context: SyncContext) {
        self.context = context
    }

    var logger: Logger { context.logger }

    /// One run of `dealsync onboard` for a connector.
    public struct Run: Sendable, Equatable {
        public var id: UUID
        public var connector: String
        /// When the run first read the account (unix milliseconds): polling continues from here.
        public var readStartedMillis: Int64
        /// This invocation continues a run that was interrupted.
        public var resumed: Bool
        /// What the run did so far, over all its invocations.
        public var done: Counts
    }

    /// What a run did: pairs linked, records created on each side, records held, steps skipped as done already.
    public struct Counts: Sendable, Equatable, Codable {
        public var linked = 0
        public var createdInMaster = 0
        public var createdInCRM = 0
        public var held = 0
        public var writes = 0
        /// Pairs and creates found done already (by another invocation of the run, or by the pipeline).
        public var skipped = 0

        public init() {}

        public mutating func add(_ other: Counts) {
            linked += other.linked
            createdInMaster += other.createdInMaster
            createdInCRM += other.createdInCRM
            held += other.held
            writes += other.writes
            skipped += other.skipped
        }

        enum CodingKeys: String, CodingKey {
            case linked, createdInMaster = "created_in_master", createdInCRM = "created_in_crm", held, writes, skipped
        }
    }

    /// The connector's links as they are, ended ones included (a record deleted in the CRM is not created again).
    public func links(connector: String) async throws -> [(masterDealID: String?, recordID: String?)] {
        let rows = try await context.database.client.query(
            "SELECT master_deal_id, record_id FROM links WHERE connector = \(connector)", logger: logger)
        var links: [(masterDealID: String?, recordID: String?)] = []
        for try await (master, record) in rows.decode((String?, String?).self) { links.append((master, record)) }
        return links
    }

    /// Begins a run for `connector`, or resumes the one an interrupted invocation left (it keeps its id, so its
    /// writes keep their keys, and its read time).
    public func begin(connector: String, actor: String, readStartedMillis: Int64, plan: [String: Int]) async throws -> Run {
        try await context.database.client.checkedTransaction(logger: logger) { tx in
            try await tx.run("SELECT pg_advisory_xact_lock(hashtextextended(\("onboarding:" + connector), 7))", logger: logger)
            let open = try await tx.query(
                "SELECT id, read_started_millis, done::text FROM onboarding_runs WHERE connector = \(connector) AND state = 'applying'",
                logger: logger)
            for try await (id, millis, done) in open.decode((UUID, Int64, String).self) {
                return Run(
                    id: id, connector: connector, readStartedMillis: millis, resumed: true,
                    done: try StoreJSON.decode(Counts.self, from: done))
            }
            let id = UUID()
            let json = try StoreJSON.encode(plan)
            try await tx.query(
                """
                INSERT INTO onboarding_runs (id, connector, actor, state, read_started_millis, plan)
                VALUES (\(id), \(connector), \(actor), 'applying', \(readStartedMillis), \(json)::jsonb)
                """, logger: logger)
            return Run(id: id, connector: connector, readStartedMillis: readStartedMillis, resumed: false, done: Counts())
        }
    }

    /// One step of a plan: pairs to link, records to create on the other side, records to hold.
    public struct Step: Sendable {
        public var pairs: [(crm: Observation, master: Observation)] = []
        /// CRM records to create in MasterDeal.
        public var createInMaster: [Observation] = []
        /// MasterDeal deals to create in the CRM.
        public var createInCRM: [Observation] = []
        public var holds: [LinkBook.Hold] = []

        public init() {}

        public var size: Int { pairs.count + createInMaster.count + createInCRM.count + holds.count }
    }

    /// Applies `step` of `run` in one transaction; returns what it did (added to the run's counts).
    public func apply(_ step: Step, of run: Run) async throws -> Counts {
        let connector = run.connector
        guard let lane = context.setup.lane(connector) else {
            throw OnboardingFailure(description: "no mapping for connector \(connector)")
        }
        return try await context.database.transaction(logger: logger) { tx, notices in
            var keys = LinkBookRecords.Keys()
            for pair in step.pairs {
                keys.add(pair.crm)
                keys.add(pair.master)
            }
            for observation in step.createInMaster + step.createInCRM { keys.add(observation) }
            var session = try await DecisionSession.open(
                context, keys: keys, reserve: step.pairs.count + step.createInMaster.count + step.createInCRM.count, on: tx)
            var counts = Counts()
            func isLinked(_ observation: Observation) -> Bool {
                switch observation.side {
                case .crm: session.book.link(connector: connector, recordID: observation.recordID) != nil
                case .master: session.book.link(connector: connector, masterDealID: observation.recordID) != nil
                }
            }
            func tally(_ result: DecisionSession.Result) throws {
                switch result {
                case .decided(let writes, _): counts.writes += writes
                case .waited(let reason), .failed(let reason): throw OnboardingFailure(description: reason)
                }
            }
            for pair in step.pairs {
                guard !isLinked(pair.crm), !isLinked(pair.master) else {
                    counts.skipped += 1
                    continue
                }
                let cause = "onboard:\(run.id):\(pair.crm.recordID)"
                try tally(session.link(crm: pair.crm, master: pair.master, connector: connector, cause: cause, lineage: run.id))
                counts.linked += 1
            }
            for record in step.createInMaster + step.createInCRM {
                // A deal matching a create dealsync sent to MasterDeal whose answer is not recorded yet (a resumed run
                // while `serve` delivers) may be that create's: never made in the CRM a second time.
                guard !isLinked(record), record.side == .crm || session.book.masterCreateInFlight(thatMayHaveMade: record) == nil
                else {
                    counts.skipped += 1
                    continue
                }
                let cause = "onboard:\(run.id):\(record.side):\(record.recordID)"
                let action: LinkPolicy.Action =
                    record.side == .crm ? .createInMaster(connector: connector) : .createInCRM(connector: connector)
                try tally(session.perform(action, record, cause: cause, lineage: run.id))
                if record.side == .crm { counts.createdInMaster += 1 } else { counts.createdInCRM += 1 }
            }
            let added = try await insertHolds(step.holds, run: run.id, on: tx)
            counts.held = added.count
            session.log(
                added.filter { $0.kind == .ambiguous }.map { hold in
                    .init(
                        connector: connector, masterDealID: hold.side == .master ? hold.recordID : nil,
                        recordID: hold.side == .crm ? hold.recordID : nil,
                        entry: DivergenceEntry(
                            kind: .unmappedValue, field: lane.mapping.linkField, rule: "matching",
                            outcome: "not linked by onboarding: \(hold.reason)"))
                }, lineage: run.id)
            try await session.save(notices: notices)
            let json = try StoreJSON.encode(counts)
            try await tx.query(
                """
                UPDATE onboarding_runs SET done = (
                    SELECT jsonb_object_agg(key, coalesce((done ->> key)::int, 0) + value::int)
                    FROM jsonb_each_text(\(json)::jsonb))
                WHERE id = \(run.id)
                """, logger: logger)
            try context.check("onboarding-step")
            return counts
        }
    }

    /// Inserts the holds not stored yet; returns those it inserted.
    private func insertHolds(_ holds: [LinkBook.Hold], run: UUID, on tx: PostgresConnection) async throws -> [LinkBook.Hold] {
        guard !holds.isEmpty else { return [] }
        let rows = try await tx.query(
            """
            INSERT INTO sync_holds (side, record_id, connector, kind, reason, run_id)
            SELECT side, record_id, connector, kind, reason, \(run)
            FROM unnest(\(holds.map(\.side.rawValue)), \(holds.map(\.recordID)), \(holds.map(\.connector)),
                        \(holds.map(\.kind.rawValue)), \(holds.map(\.reason))) AS h(side, record_id, connector, kind, reason)
            ON CONFLICT DO NOTHING
            RETURNING side, record_id
            """, logger: logger)
        var inserted: Set<String> = []
        for try await (side, record) in rows.decode((String, String).self) { inserted.insert("\(side):\(record)") }
        return holds.filter { inserted.contains("\($0.side.rawValue):\($0.recordID)") }
    }

    /// Ends `run`: polling starts where it read (unless the connector has polled already), and the audit log
    /// says who onboarded what.
    public func finish(_ run: Run, actor: String, pollCursor: String, summary: [String: String]) async throws -> Counts {
        try await context.database.client.checkedTransaction(logger: logger) { tx in
            let rows = try await tx.query(
                """
                UPDATE onboarding_runs SET state = 'applied', finished_at = now() WHERE id = \(run.id) AND state = 'applying'
                RETURNING done::text
                """, logger: logger)
            var done = run.done
            for try await text in rows.decode(String.self) { done = try StoreJSON.decode(Counts.self, from: text) }
            try await tx.query(
                """
                INSERT INTO poll_cursors (connector, cursor) VALUES (\(run.connector), \(pollCursor)::jsonb)
                ON CONFLICT (connector) DO NOTHING
                """, logger: logger)
            var details = summary
            details["run"] = run.id.uuidString.lowercased()
            details["linked"] = String(done.linked)
            details["created_in_master"] = String(done.createdInMaster)
            details["created_in_crm"] = String(done.createdInCRM)
            details["held"] = String(done.held)
            try await AuditRecords.insert(
                actor: actor, action: "onboard", target: run.connector, reason: nil, details: details, on: tx, logger: logger)
            return done
        }
    }

    /// How the run's writes stand in the outbox: waiting, delivered, dead.
    public func progress(of run: Run) async throws -> (waiting: Int, delivered: Int, dead: Int) {
        let rows = try await context.database.client.query(
            """
            SELECT count(*) FILTER (WHERE status IN ('pending', 'in_flight')), count(*) FILTER (WHERE status = 'done'),
                   count(*) FILTER (WHERE status = 'dead')
            FROM outbox WHERE lineage_id = \(run.id) AND target <> \(context.setup.decisionFeed ?? "")
            """, logger: logger)
        for try await (waiting, delivered, dead) in rows.decode((Int, Int, Int).self) { return (waiting, delivered, dead) }
        return (0, 0, 0)
    }
}

extension OnboardingStore {
    /// How a connector's latest onboarding run stands, for the gateway's metrics.
    public struct RunProgress: Sendable, Equatable {
        public var connector: String
        /// The share of the first invocation's plan applied so far (every invocation counts), 0...1.
        public var progress: Double
        /// The run's writes not delivered yet.
        public var writesWaiting: Int
    }

    /// The latest run of each connector that was ever onboarded.
    public static func latestRuns(database: Database, logger: Logger) async throws -> [RunProgress] {
        let rows = try await database.client.query(
            """
            SELECT DISTINCT ON (r.connector) r.connector,
                coalesce((r.plan ->> 'link_by_link_field')::int, 0) + coalesce((r.plan ->> 'link_by_key')::int, 0)
                    + coalesce((r.plan ->> 'create_in_master')::int, 0) + coalesce((r.plan ->> 'create_in_crm')::int, 0)
                    + coalesce((r.plan ->> 'ambiguous')::int, 0) + coalesce((r.plan ->> 'left_unlinked')::int, 0),
                coalesce((r.done ->> 'linked')::int, 0) + coalesce((r.done ->> 'created_in_master')::int, 0)
                    + coalesce((r.done ->> 'created_in_crm')::int, 0) + coalesce((r.done ->> 'held')::int, 0)
                    + coalesce((r.done ->> 'skipped')::int, 0),
                r.state = 'applied',
                (SELECT count(*) FROM outbox o WHERE o.lineage_id = r.id AND o.status IN ('pending', 'in_flight'))
            FROM onboarding_runs r ORDER BY r.connector, r.started_at DESC
            """, logger: logger)
        var runs: [RunProgress] = []
        for try await (connector, planned, applied, finished, waiting) in rows.decode((String, Int, Int, Bool, Int).self) {
            let progress = finished ? 1 : planned > 0 ? min(Double(applied) / Double(planned), 1) : 0
            runs.append(RunProgress(connector: connector, progress: progress, writesWaiting: waiting))
        }
        return runs
    }
}

/// A step of onboarding could not be applied (the plan names a connector without a mapping).
public struct OnboardingFailure: Error, Sendable, CustomStringConvertible {
    public var description: String
}
