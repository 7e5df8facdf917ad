import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// Claims due inbox rows and records what became of them, in the processing transaction.
///
/// A lane's claim reads the index `inbox_lane (connector, id) WHERE status = 'pending'` in order and stops
/// after `limit` due rows: its cost depends on the batch, not on how many rows wait behind it.
package enum InboxClaims {
    struct Row {
        var id: Int64
        var item: InboxItem
        var attempts: Int
        var receivedAt: Date
    }

    static let columns = "id, connector, dedupe_key, source, headers::text, content_type, body, lineage_id, attempts, received_at"

    /// Claims up to `limit` due rows of `connector` (of every lane when `nil`), oldest first. A fetch whose process
    /// is gone is made due first (see ``takeOverFetches(connector:)``).
    static func claim(connector: String?, limit: Int, on tx: PostgresConnection, logger: Logger) async throws -> [Row] {
        // Also sets the transaction's planning (``KeyedPlanning``): bitmap scans off, so the claim
        // walks `inbox_lane` in order (see there).
        try await tx.run(TakeOverFetches.self, takeOverFetches(connector: connector), logger: logger)
        guard connector != nil else { return try await read(claimDue(connector: connector, limit: limit), on: tx, logger: logger) }
        return try await read(try await tx.query(ClaimDue.self, claimDue(connector: connector, limit: limit), logger: logger))
    }

    enum TakeOverFetches: KeptStatement {
        static let name = "dealsync_take_over_fetches"
        static let sql = takeOverFetches(connector: "").sql
    }

    /// A lane's claim (the claim of every lane at once, for tools and tests, is sent as it is).
    enum ClaimDue: KeptStatement {
        static let name = "dealsync_claim_inbox"
        static let sql = claimDue(connector: "", limit: 0).sql
    }

    /// The statement that claims up to `limit` due rows of `connector` (of every lane when `nil`), oldest first.
    ///
    /// The lane's connector is a range of one (`>= … AND <= …`) and the order is `connector, id`: only `inbox_lane`
    /// gives that order without reading every pending row of the lane. Asked for `connector = …` and `ORDER BY id`,
    /// PostgreSQL took the connector for a constant, so the primary key (in id order too) could serve the claim with
    /// the connector and the status as a filter, and it chose it: the table's order follows the primary key and not
    /// `inbox_lane`, whose first column is the connector, so the primary key looked cheaper to read the rows by. It
    /// read every row since the oldest pending one, of every lane and mostly processed (7,000 for 16 rows claimed,
    /// 21 ms a claim on average over the benchmark's 10,000 drain, 40% of PostgreSQL's time).
    package static func claimDue(connector: String?, limit: Int) -> PostgresQuery {
        due(connector: connector, limit: limit, select: columns, then: "FOR UPDATE SKIP LOCKED")
    }

    /// `select` of up to `limit` due rows of `connector` (of every lane when `nil`), oldest first, the statement
    /// ending with `then` (see ``claimDue(connector:limit:)``).
    private static func due(connector: String?, limit: Int, select: String, then: String) -> PostgresQuery {
        if let connector {
            return """
                SELECT \(unescaped: select) FROM inbox
                WHERE connector >= \(connector) AND connector <= \(connector) AND status = 'pending' AND next_attempt_at <= now()
                ORDER BY connector, id LIMIT \(limit) \(unescaped: then)
                """
        }
        return """
            SELECT \(unescaped: select) FROM inbox WHERE status = 'pending' AND next_attempt_at <= now()
            ORDER BY id LIMIT \(limit) \(unescaped: then)
            """
    }

    /// Claims the rows `ids` that are still due (``StatusByID``).
    static func claim(ids: [Int64], on tx: PostgresConnection, logger: Logger) async throws -> [Row] {
        try await read(
            """
            SELECT \(unescaped: columns) FROM inbox
            WHERE id = ANY(\(ids)) AND \(unescaped: StatusByID.is("pending")) AND next_attempt_at <= now()
            ORDER BY id FOR UPDATE SKIP LOCKED
            """, on: tx, logger: logger)
    }

    /// The ids of up to `limit` due rows, oldest first, without claiming them (a lane's as its claim reads them, see
    /// ``claimDue(connector:limit:)``).
    static func dueIDs(connector: String?, limit: Int, database: Database, logger: Logger) async throws -> [Int64] {
        let rows = try await database.client.query(due(connector: connector, limit: limit, select: "id", then: ""), logger: logger)
        var ids: [Int64] = []
        for try await id in rows.decode(Int64.self) { ids.append(id) }
        return ids
    }

    /// Makes due at once every fetch of `connector` that began more than `fetchTakeover` seconds ago in a process
    /// that is no longer present (it died): it is taken over within seconds, not after the whole fetch lease. A
    /// live process keeps its fetch, and the first seconds of any fetch are its own.
    ///
    /// The same statement turns bitmap scans off for the rest of the transaction, so the claim after it walks
    /// `inbox_lane` in id order for its first `limit` rows. With statistics gathered while a lane had a handful of
    /// rows pending, PostgreSQL took 82,000 pending rows for 7, read them all through a bitmap, sorted them on disk
    /// and kept 200: 91 ms a claim instead of about one, and 14 ms on average over a 100,000-row drain against 1.4 at
    /// 10,000. The lane's other statements read by key (`= ANY`, joins on `unnest`) and need no bitmap. The other
    /// settings of ``KeyedPlanning`` come with it, for the decisions the lane saves.
    package static func takeOverFetches(connector: String?) -> PostgresQuery {
        """
        WITH taken AS (
            UPDATE inbox SET next_attempt_at = now(), fetched_by = NULL
            WHERE (\(connector)::text IS NULL OR connector = \(connector)) AND status = 'pending' AND fetched_by IS NOT NULL
              AND next_attempt_at > now()
              AND next_attempt_at <= now() + make_interval(secs => \(InboxProcessor.fetchLease - InboxProcessor.fetchTakeover))
              AND hashtext(fetched_by)::oid NOT IN (\(unescaped: OutboxClaims.presentWorkers))
            RETURNING 1
        )
        SELECT \(unescaped: KeyedPlanning.settings), (SELECT count(*) FROM taken)
        """
    }

    private static func read(_ query: PostgresQuery, on tx: PostgresConnection, logger: Logger) async throws -> [Row] {
        try await read(try await tx.query(query, logger: logger))
    }

    private static func read<Rows: AsyncSequence>(_ rows: Rows) async throws -> [Row] where Rows.Element == PostgresRow {
        var result: [Row] = []
        for try await (id, connector, key, source, headers, contentType, body, lineage, attempts, received) in rows.decode(
            (Int64, String, String, String, String, String?, Data, UUID, Int, Date).self)
        {
            let item = InboxItem(
                connector: connector, dedupeKey: key, source: InboxItem.Source(rawValue: source) ?? .webhook,
                headers: StoreJSON.strings(from: headers) ?? [:], contentType: contentType,
                body: body, lineageID: lineage)
            result.append(Row(id: id, item: item, attempts: attempts, receivedAt: received))
        }
        return result
    }

    /// What became of a batch's rows, written by ``DecisionRecords`` with the rest of the batch.
    struct Statuses {
        enum Final: String {
            case processed, ignored, failed
        }

        var finished: (ids: [Int64], statuses: [String], errors: [String]) = ([], [], [])
        var retried: (ids: [Int64], errors: [String], delays: [Double]) = ([], [], [])
        /// Rows whose records are being fetched: leased to the worker for the fetch.
        var fetching: [Int64] = []

        var isEmpty: Bool { finished.ids.isEmpty && retried.ids.isEmpty && fetching.isEmpty }

        mutating func finish(_ id: Int64, _ status: Final, error: String?) {
            finished.ids.append(id)
            finished.statuses.append(status.rawValue)
            finished.errors.append(error.map { String($0.prefix(500)) } ?? "")
        }

        mutating func retry(_ id: Int64, error: String, delaySeconds: Double) {
            retried.ids.append(id)
            retried.errors.append(String(error.prefix(500)))
            retried.delays.append(delaySeconds)
        }
    }
}
