import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// The relay's view of the outbox: claim due writes, one in flight per record at a time.
public struct OutboxClaims: Sendable {
    public let database: Database
    let logger: Logger

    public init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    /// Claims up to `limit` records' due writes for `target`.
    ///
    /// Only the oldest open write of a record can be claimed, and not while an earlier claim of that record is
    /// in flight, so writes reach a target in order per record; a record whose head is failing waits alone.
    /// Consecutive pending updates after a claimed update head are claimed with it (coalesced).
    ///
    /// The lanes whose changes caused the writes (the CRM connectors, for MasterDeal) are served in turn: each
    /// gives its oldest due heads, and the claim takes them round-robin and returns them in that order
    /// (``LaneTurns``), so a burst in one lane never holds another lane's writes back, neither out of the round nor
    /// within it. Each lane's heads are read from an index of pending rows in id order, so the claim's cost depends
    /// on `limit` and the number of lanes, not on how many writes wait.
    ///
    /// Call it inside ``whilePresent(worker:keepAlive:_:)`` for the same worker. A write claimed by a worker
    /// that is no longer present (its process died) is claimed again at once, and one whose lease ran out is
    /// too; either comes back as one more attempt, because the earlier one may have landed: a create then
    /// looks for the record before making it again.
    ///
    /// With `timeout`, PostgreSQL itself cancels a statement of the claim that runs longer (`statement_timeout`, for
    /// this transaction only): a relay that stops waiting for a slow claim and starts another must not leave the
    /// first one running on the server. Without it, a 100,000-write backlog once piled up sixteen claims, each
    /// started 30 s after the one before had been given up, all still running nine minutes later, slowing one another.
    ///
    /// With `quietLanes`, only the lanes with at most that many writes pending are served: an express relay's claim,
    /// which a lane's burst never fills, so a quiet lane's write is taken at once instead of waiting for a relay
    /// to finish a round of the burst's.
    public func claim(
        target: String, limit: Int, worker: String, lease: Duration, coalesce: Int = 20, timeout: Duration? = nil,
        quietLanes: Int? = nil
    ) async throws -> [WriteGroup] {
        try await claimRound(
            target: target, limit: limit, worker: worker, lease: lease, coalesce: coalesce, timeout: timeout, quietLanes: quietLanes,
            whenPaused: .claim
        ).groups
    }

    /// What a claim does when its target is paused (``ConnectorStatusStore``: a blocked account, a lost grant).
    public enum WhenPaused: Sendable {
        /// Claims as if it were not.
        case claim
        /// Claims nothing.
        case skip
        /// Claims one write, whose delivery tells whether the target is back.
        case probe
    }

    /// A relay's round: the writes claimed, and why the target is paused (nil when it is not).
    public struct Round: Sendable {
        public var paused: String?
        public var groups: [WriteGroup]
    }

    /// ``claim(target:limit:worker:lease:coalesce:timeout:quietLanes:)``, learning in the same round trip as the
    /// claim's settings whether the target is paused, and claiming by `whenPaused` if it is: a relay's round asks
    /// PostgreSQL nothing before its transaction.
    public func claimRound(
        target: String, limit: Int, worker: String, lease: Duration, coalesce: Int = 20, timeout: Duration? = nil,
        quietLanes: Int? = nil, whenPaused: WhenPaused
    ) async throws -> Round {
        let leaseSeconds = Double(lease.components.seconds) + Double(lease.components.attoseconds) / 1e18
        let interruption = AttemptRecord(
            status: nil, errorClass: "interrupted",
            detail: "claimed by a worker that stopped (or outlived its lease) before recording an outcome"
        ).jsonText
        return try await database.client.checkedTransaction(logger: logger) { tx in
            var paused: String?
            for try await row in try await tx.query(Planning.self, Self.planning(timeout: timeout, pausedOf: target), logger: logger) {
                paused = try row.makeRandomAccess()["paused"].decode(String?.self)
            }
            var limit = limit
            switch (paused, whenPaused) {
            case (nil, _), (_, .claim): break
            case (_, .skip): return Round(paused: paused, groups: [])
            case (_, .probe): limit = 1
            }
            return Round(
                paused: paused,
                groups: try await claimGroups(
                    target: target, limit: limit, worker: worker, leaseSeconds: leaseSeconds, interruption: interruption,
                    coalesce: coalesce, quietLanes: quietLanes, on: tx))
        }
    }

    /// The heads of a round and the updates coalesced with them, inside the claim's transaction (its settings made).
    private func claimGroups(
        target: String, limit: Int, worker: String, leaseSeconds: Double, interruption: String, coalesce: Int, quietLanes: Int?,
        on tx: PostgresConnection
    ) async throws -> [WriteGroup] {
        let heads = try await Self.decode(
            tx.executeKept(
                ClaimHeads(
                    bindings: Self.claimHeadsBindings(
                        target: target, limit: limit, worker: worker, leaseSeconds: leaseSeconds, interruption: interruption,
                        quietLanes: quietLanes)),
                logger: logger))
        // Sent lanes in turn: a quiet lane's write goes among a round's first requests, not after a burst's.
        var groups = LaneTurns.interleave(heads, lane: \.lane, isBefore: { $0.id < $1.id }).map { WriteGroup(writes: [$0]) }
        let updates = coalesce > 1 ? groups.map(\.head).filter { $0.operation == .update } : []
        guard !updates.isEmpty else { return groups }
        // Only the pending updates right after each head: a write still in flight under an earlier claim (one
        // that outlived its lease) or a create ends the run, so nothing overtakes it. One statement for every
        // head of the round (each reads its record's next writes from `outbox_open`), not one per head.
        let next = try await tx.query(
            Self.nextWrites(target: target, heads: updates.map(\.id), recordKeys: updates.map(\.recordKey), limit: coalesce - 1),
            logger: logger)
        var headOf: [Int64: Int64] = [:]
        var ended: Set<Int64> = []
        for try await (head, id, status, operation) in next.decode((Int64, Int64, String, String).self) {
            guard !ended.contains(head) else { continue }
            guard status == "pending", operation == "update" else {
                ended.insert(head)
                continue
            }
            headOf[id] = head
        }
        guard !headOf.isEmpty else { return groups }
        // Only the primary key serves the ids (``StatusByID``).
        let followers = try await Self.read(
            """
            UPDATE outbox o SET status = 'in_flight', claimed_by = \(worker), claim_seq = o.claim_seq + 1,
                claimed_until = now() + make_interval(secs => \(leaseSeconds)), updated_at = now()
            WHERE o.id = ANY(\(Array(headOf.keys))) AND \(unescaped: StatusByID.is("pending", column: "o.status"))
            RETURNING \(unescaped: Self.columns("o"))
            """, on: tx)
        let index = Dictionary(uniqueKeysWithValues: groups.enumerated().map { ($1.head.id, $0) })
        for follower in followers.sorted(by: { $0.id < $1.id }) {
            guard let head = headOf[follower.id], let at = index[head] else { continue }
            groups[at].writes.append(follower)
        }
        return groups
    }

    /// Up to `limit` open writes of each head's record after it (`heads` and `recordKeys` in pairs), in id order per
    /// head: the writes a round may coalesce with its heads. Each head's are read from `outbox_open` by target, record
    /// and id; `outbox_by_link` cannot serve this (its entries need a link, which this never names): planned on an
    /// outbox analysed with next to nothing open, PostgreSQL read the whole of that index for each head instead.
    package static func nextWrites(target: String, heads: [Int64], recordKeys: [String], limit: Int) -> PostgresQuery {
        """
        SELECT h.head, o.id, o.status, o.operation
        FROM unnest(\(heads), \(recordKeys)) AS h(head, record_key)
        CROSS JOIN LATERAL (
            SELECT id, status, operation FROM outbox
            WHERE target = \(target) AND record_key = h.record_key AND id > h.head AND status IN ('pending', 'in_flight')
            ORDER BY id LIMIT \(limit)
        ) o
        ORDER BY h.head, o.id
        """
    }

    /// The settings a claim's transaction runs with: its `statement_timeout` (`timeout`, or the session's) and
    /// ``KeyedPlanning``: no bitmap scans, hash joins or merge joins (see
    /// ``claimHeads(target:limit:worker:leaseSeconds:interruption:quietLanes:)``),
    /// and the generic plan of its prepared statement (``ClaimHeads``), planned without sequential scans: a process's
    /// first claim often finds an empty outbox, and the plan made then serves every later claim of that connection. On
    /// an empty outbox PostgreSQL would read it whole to update the round's writes, and went on doing so with 22,000
    /// writes in it (4.3 ms a claim instead of 1 ms). The settings hold for the whole transaction: the coalescing
    /// statements after the heads' claim are planned the same way, generic and without sequential scans, which suits
    /// them (they read and update by key: `record_key` through `outbox_open`, ids through the primary key).
    ///
    /// With `pausedOf`, its column `paused` also says why that connector is paused, or is null when it is not.
    package static func planning(timeout: Duration?, pausedOf connector: String? = nil) -> PostgresQuery {
        let statementLimit = timeout.map { String(max(1, $0.milliseconds)) }
        return """
            SELECT \(unescaped: KeyedPlanning.settings),
                set_config('statement_timeout', coalesce(\(statementLimit), current_setting('statement_timeout')), true),
                (SELECT coalesce(reason, '') FROM connector_status WHERE connector = \(connector) AND paused) AS paused
            """
    }

    enum Planning: KeptStatement {
        static let name = "dealsync_claim_planning"
        static let sql = planning(timeout: nil, pausedOf: "").sql
    }

    /// The claim is planned without bitmap scans (for its own transaction only). With statistics gathered while the
    /// outbox was small, PostgreSQL took each lane's pending writes for a handful and read them all through a bitmap
    /// of two indexes, checked every one for being its record's head and sorted them, instead of walking
    /// `outbox_lane_due` in id order for the round's first `limit`: with 100,000 writes waiting a claim took 157 ms
    /// on average (17 ms at 10,000), and the four MasterDeal relays' claims used more of PostgreSQL than the lane
    /// deciding the backlog. Autovacuum's statistics come minutes after a bulk import; the ordered scan is right
    /// whatever the counts are. For the same reason the update takes its rows by their ids (`= ANY`, the primary
    /// key): joined to the round as a table, it was planned as a hash join over every open write of the target.
    /// Likewise the round's candidates are joined to the rows they lock one by one through the primary key: with
    /// hash joins allowed, a young outbox's statistics had the candidates joined to a sequential read of the whole
    /// outbox.
    /// The update checks each write's status in a `CASE`, not as `status = 'pending' OR status = 'in_flight'`: from
    /// that PostgreSQL proved that `outbox_open` (a partial index of those statuses) held the rows, and on a young
    /// outbox it walked the whole index for the round's ids (3 ms, 1,262 buffers, for 50 writes) instead of taking
    /// them by the primary key. Nothing can be proved from a `CASE`, so only the primary key serves the ids.
    ///
    /// The statement that claims a round's heads: up to `limit` due writes of `target`, the lanes served in turn,
    /// each the oldest open write of its record, and the writes of workers that are gone (or outlived their lease),
    /// whose attempt log gains `interruption`.
    /// With `quietLanes`, a lane is served only while at most that many of its writes are pending (counted up to one
    /// more, from `outbox_lane_due`, so the count costs a round's worth of index entries however long the backlog).
    /// The relays run it prepared (``ClaimHeads``); this is the same text with the same values, for `EXPLAIN`.
    package static func claimHeads(
        target: String, limit: Int, worker: String, leaseSeconds: Double, interruption: String, quietLanes: Int? = nil
    ) -> PostgresQuery {
        PostgresQuery(
            unsafeSQL: ClaimHeads.sql,
            binds: claimHeadsBindings(
                target: target, limit: limit, worker: worker, leaseSeconds: leaseSeconds, interruption: interruption,
                quietLanes: quietLanes))
    }

    /// The values of ``ClaimHeads``' parameters, in order.
    package static func claimHeadsBindings(
        target: String, limit: Int, worker: String, leaseSeconds: Double, interruption: String, quietLanes: Int?
    ) -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 6)
        bindings.append(target)
        bindings.append(limit)
        bindings.append(worker)
        bindings.append(leaseSeconds)
        bindings.append(interruption)
        bindings.append(quietLanes)
        return bindings
    }

    /// The claim of a round's heads as a statement each connection prepares once (PostgreSQL's prepared statement,
    /// planned once and run with a generic plan: ``planning(timeout:)`` asks for one). Planned afresh for every claim,
    /// as an unnamed statement, it cost PostgreSQL 1.9 ms of planning per claim on top of 1.1 ms of running it: a
    /// full freshness run's claims spent 5.6 s planning and 3.3 s running.
    ///
    /// Parameters: `$1` the target, `$2` the round's size, `$3` the claiming worker, `$4` the lease in seconds, `$5` the
    /// interruption entry (JSON), `$6` the express relay's `quietLanes` (or null).
    package struct ClaimHeads: PostgresPreparedStatement {
        package typealias Row = PostgresRow
        package static let name = "dealsync_claim_heads"
        package static let bindingDataTypes: [PostgresDataType] = [.text, .int8, .text, .float8, .text, .int8]
        package static let sql = """
            WITH RECURSIVE present AS MATERIALIZED (\(OutboxClaims.presentWorkers)),
            claimant AS (SELECT $3::text AS name),
            lanes AS (
                (SELECT lane FROM outbox WHERE target = $1::text AND status = 'pending' ORDER BY lane LIMIT 1)
                UNION ALL
                SELECT (SELECT o.lane FROM outbox o WHERE o.target = $1::text AND o.status = 'pending' AND o.lane > l.lane
                        ORDER BY o.lane LIMIT 1)
                FROM lanes l WHERE l.lane IS NOT NULL
            ), candidates AS (
                SELECT c.id, c.turn FROM lanes l CROSS JOIN LATERAL (
                    SELECT o.id, row_number() OVER (ORDER BY o.id) AS turn FROM outbox o
                    WHERE o.target = $1::text AND o.lane = l.lane AND o.status = 'pending' AND o.next_attempt_at <= now()
                      AND o.id = (\(OutboxClaims.recordHead("o")))
                    ORDER BY o.id LIMIT $2::int8
                ) c WHERE l.lane IS NOT NULL AND ($6::int8 IS NULL OR (
                    SELECT count(*) FROM (
                        SELECT 1 FROM outbox q WHERE q.target = $1::text AND q.lane = l.lane AND q.status = 'pending'
                        LIMIT $6::int8 + 1) AS backlog) <= $6::int8)
                UNION ALL
                SELECT h.id, 0 FROM outbox h
                WHERE h.target = $1::text AND h.in_flight AND \(OutboxClaims.abandoned("h", claimant: "claimant"))
                  AND h.id = (\(OutboxClaims.recordHead("h")))
            ), due AS (
                SELECT o.id FROM outbox o JOIN candidates c ON c.id = o.id
                ORDER BY c.turn, o.id LIMIT $2::int8
                FOR UPDATE OF o SKIP LOCKED
            )
            UPDATE outbox o SET status = 'in_flight', claimed_by = $3::text, claim_seq = o.claim_seq + 1,
                claimed_until = now() + make_interval(secs => $4::float8), updated_at = now(),
                attempts = o.attempts + CASE WHEN o.status = 'in_flight' THEN 1 ELSE 0 END,
                attempt_log = CASE WHEN o.status = 'in_flight'
                    THEN o.attempt_log || jsonb_build_array($5::text::jsonb || jsonb_build_object('worker', o.claimed_by))
                    ELSE o.attempt_log END
            WHERE o.id = ANY(ARRAY(SELECT id FROM due)) AND CASE o.status
                WHEN 'pending' THEN o.next_attempt_at <= now()
                WHEN 'in_flight' THEN \(OutboxClaims.abandoned("o", claimant: "claimant"))
                ELSE false END
            RETURNING \(OutboxClaims.columns("o"))
            """

        let bindings: PostgresBindings

        package func makeBindings() -> PostgresBindings { bindings }
        package func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
    }

    /// The oldest open write of the record of the row `alias`: a row is its record's head when its id is this.
    ///
    /// A correlated `min` rather than `NOT EXISTS (… e.id < alias.id)`: PostgreSQL runs it as one descent of
    /// `outbox_open` per row whatever its statistics say. The anti-join form, planned on a young outbox whose
    /// statistics autovacuum had not yet gathered, scanned every open write of the target for each candidate:
    /// 40 s per claim with 3,700 MasterDeal writes waiting from a hundred connectors, 39 ms this way.
    static func recordHead(_ alias: String) -> String {
        """
        SELECT min(e.id) FROM outbox e WHERE e.target = \(alias).target AND e.record_key = \(alias).record_key
            AND e.status IN ('pending', 'in_flight')
        """
    }

    // MARK: Presence

    /// The advisory-lock namespace of relay presence; the second key is the hash of the worker's name.
    static let presenceNamespace: Int32 = 0x4453_5052

    /// The workers present in this database now (hashes of their names, as `pg_locks` shows them).
    static let presentWorkers = """
        SELECT l.objid FROM pg_locks l
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.classid = \(presenceNamespace)::oid
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        """

    /// How many workers (one per `dealsync serve` process) are present in this database now; with `counting`,
    /// that worker is counted even before it is present (a process starting up counts itself at once).
    public func presentWorkers(counting worker: String? = nil) async throws -> Int {
        let rows = try await database.client.query(
            """
            WITH present AS MATERIALIZED (\(unescaped: Self.presentWorkers))
            SELECT (SELECT count(DISTINCT objid) FROM present)
                 + CASE WHEN \(worker)::text IS NULL OR hashtext(\(worker))::oid IN (SELECT objid FROM present) THEN 0 ELSE 1 END
            """, logger: logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    /// Whether the in-flight claim of the row `alias` is abandoned: its lease ran out or its worker is gone. The
    /// claimant (the single row of the relation named `claimant`) is present, since it claims only while it is, so
    /// only other workers are looked for in `pg_locks`: reading the lock table costs PostgreSQL milliseconds of CPU
    /// with the lanes' record locks in it (the claim statement took 14 ms on average at 500 changes a second when
    /// every claim read it, 10 ms since), and a process whose writes in flight are all its own never reads it.
    static func abandoned(_ alias: String, claimant: String) -> String {
        """
        (\(alias).claimed_until < now() OR \(alias).claimed_by IS NULL
            OR (\(alias).claimed_by <> (SELECT name FROM \(claimant))
                AND hashtext(\(alias).claimed_by)::oid NOT IN (SELECT objid FROM present)))
        """
    }

    /// Runs `body` while `worker` is present: a shared advisory lock held on a connection of its own, checked
    /// every `keepAlive`. When the process dies its session ends and the lock with it, so another process
    /// claims the writes it left in flight at once rather than after their lease. Losing the connection
    /// cancels `body` and throws.
    public func whilePresent(
        worker: String, keepAlive: Duration = .seconds(5), _ body: @escaping @Sendable () async throws -> Void
    ) async throws {
        let logger = self.logger
        try await database.client.withConnection { connection in
            try await connection.run("SELECT pg_advisory_lock_shared(\(Self.presenceNamespace), hashtext(\(worker)))", logger: logger)
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await body() }
                    group.addTask {
                        while true {
                            try await Task.sleep(for: keepAlive)
                            // Bounded: a query on a connection whose server crashed can wait forever.
                            _ = try await withDeadline(keepAlive) { try await connection.query("SELECT 1", logger: logger) }
                        }
                    }
                    try await group.next()
                    group.cancelAll()
                }
            } catch {
                _ = try? await withDeadline(keepAlive) {
                    try await connection.run(
                        "SELECT pg_advisory_unlock_shared(\(Self.presenceNamespace), hashtext(\(worker)))", logger: logger)
                }
                throw error
            }
            _ = try? await withDeadline(keepAlive) {
                try await connection.run(
                    "SELECT pg_advisory_unlock_shared(\(Self.presenceNamespace), hashtext(\(worker)))", logger: logger)
            }
        }
    }

    static func columns(_ alias: String) -> String {
        """
        \(alias).id, \(alias).target, \(alias).record_key, \(alias).lane, \(alias).link_id, \(alias).master_deal_id, \(alias).operation,
        \(alias).payload::text, \(alias).idempotency_key, \(alias).lineage_id, \(alias).attempts, \(alias).created_at,
        (SELECT CASE WHEN l.connector = \(alias).target THEN l.record_id ELSE l.master_deal_id END FROM links l WHERE l.id = \(alias).link_id),
        (SELECT l.master_version FROM links l WHERE l.id = \(alias).link_id), \(alias).claimed_by, \(alias).claim_seq,
        (SELECT i.headers->>'traceparent' FROM inbox i WHERE i.id = \(alias).inbox_id)
        """
    }

    static func read(
        _ query: PostgresQuery, on connection: PostgresConnection, logger: Logger = Logger(label: "outbox")
    ) async throws -> [ClaimedWrite] {
        try await decode(connection.query(query, logger: logger))
    }

    /// The writes in `rows` (each row ``columns(_:)``).
    static func decode<Rows: AsyncSequence>(_ rows: Rows) async throws -> [ClaimedWrite] where Rows.Element == PostgresRow {
        var result: [ClaimedWrite] = []
        for try await row in rows {
            let (
                id, target, recordKey, lane, link, master, operation, payload, key, lineage, attempts, created, record, version, claimedBy,
                sequence, traceParent
            ) = try row.decode(
                (
                    Int64, String, String, String, Int64?, String?, String, String, String, UUID, Int, Date, String?, Int64?, String?,
                    Int64, String?
                ).self)
            let stored = try OutboxPayload(jsonText: payload)
            result.append(
                ClaimedWrite(
                    id: id, target: target, recordKey: recordKey, lane: lane, linkID: link, masterDealID: master,
                    operation: RecordDecision.Operation(rawValue: operation) ?? .update, values: stored.values, idempotencyKey: key,
                    lineageID: lineage, attempts: attempts, createdAt: created, recordID: record,
                    knownVersion: version, claimedBy: claimedBy, claimSequence: sequence, traceParent: traceParent,
                    decided: stored.decided))
        }
        return result
    }

    /// Pending and in-flight writes and the age of the oldest, per target (metrics and the demo).
    public func depth() async throws -> [(target: String, open: Int, oldestSeconds: Double)] {
        let rows = try await database.client.query(
            """
            SELECT target, count(*)::int8, coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
            FROM outbox WHERE status IN ('pending', 'in_flight') GROUP BY target
            """, logger: logger)
        var result: [(String, Int, Double)] = []
        for try await row in rows.decode((String, Int, Double).self) { result.append(row) }
        return result
    }

    /// How long until something for `target` is due (a pending write's next attempt, or the lease end of one in
    /// flight); zero or less when something is due already; `nil` when nothing is open. An idle relay sleeps
    /// until then (``IdleWait``). See ``nextDueQuery(target:)``.
    public func nextDue(target: String) async throws -> Duration? {
        try await database.client.query(NextDue.self, Self.nextDueQuery(target: target), logger: logger) { rows in
            for try await seconds in rows.decode(Double?.self) {
                return seconds.map { .milliseconds(Int64(($0 * 1000).rounded(.up))) }
            }
            return nil
        }
    }

    /// The seconds until something for `target` is due. The pending writes' earliest is the first entry of
    /// `outbox_due`, and only the few writes in flight are read: one `min` over every open write read all of them,
    /// 100,000 during a bulk import, each time a relay found nothing to claim. The earliest is asked for in index
    /// order (`ORDER BY … LIMIT 1`), not as a `min`: planned on an outbox analysed with next to nothing pending,
    /// PostgreSQL took any index of the pending writes for as good and read the target's whole backlog through
    /// `outbox_lane_due` to find its `min`; with the order asked for, only `outbox_due` has it without sorting.
    package static func nextDueQuery(target: String) -> PostgresQuery {
        """
        SELECT extract(epoch FROM least(
            (SELECT next_attempt_at FROM outbox WHERE target = \(target) AND status = 'pending' ORDER BY next_attempt_at LIMIT 1),
            (SELECT min(claimed_until) FROM outbox WHERE target = \(target) AND in_flight)) - now())::float8
        """
    }

    enum NextDue: KeptStatement {
        static let name = "dealsync_outbox_next_due"
        static let sql = nextDueQuery(target: "").sql
    }
}
