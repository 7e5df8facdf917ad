import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// Reading and resolving dead letters (the `dlq` commands).
public struct DeadLetterStore: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    static let columns = """
        id, outbox_id, connector, record_key, master_deal_id, operation, payload::text, idempotency_key, lineage_id,
        error_class, last_error, attempts::text, status, replay_count, created_at, resolved_at, resolved_by, resolution_reason
        """

    public func list(_ filter: DeadLetterFilter, limit: Int = 500) async throws -> [DeadLetter] {
        var conditions: [String] = []
        var binds = PostgresBindings()
        func bind(_ value: some PostgresEncodable & Sendable) -> String {
            try? binds.append(value, context: .default)
            return "$\(binds.count)"
        }
        if let connector = filter.connector { conditions.append("connector = \(bind(connector))") }
        if let since = filter.since { conditions.append("created_at >= \(bind(since))") }
        if let errorClass = filter.errorClass { conditions.append("error_class = \(bind(errorClass))") }
        if let deal = filter.deal { conditions.append("master_deal_id = \(bind(deal))") }
        if let status = filter.status { conditions.append("status = \(bind(status))") }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let sql = "SELECT \(Self.columns) FROM dead_letters \(whereClause) ORDER BY id LIMIT \(limit)"
        return try await Self.read(PostgresQuery(unsafeSQL: sql, binds: binds), on: database, logger: logger)
    }

    public func get(_ id: Int64) async throws -> DeadLetter? {
        try await Self.read("SELECT \(unescaped: Self.columns) FROM dead_letters WHERE id = \(id)", on: database, logger: logger).first
    }

    public func lineage(of letter: DeadLetter) async throws -> [LineageStep] {
        let rows = try await database.client.query(
            "SELECT id, connector, source, dedupe_key, received_at, status FROM inbox WHERE lineage_id = \(letter.lineageID) ORDER BY id",
            logger: logger)
        var steps: [LineageStep] = []
        for try await (id, connector, source, key, received, status) in rows.decode((Int64, String, String, String, Date, String).self) {
            steps.append(
                LineageStep(inboxID: id, connector: connector, source: source, dedupeKey: key, receivedAt: received, status: status))
        }
        return steps
    }

    public func openCounts() async throws -> [String: Int] {
        let rows = try await database.client.query(
            "SELECT connector, count(*)::int8 FROM dead_letters WHERE status = 'open' GROUP BY connector", logger: logger)
        var counts: [String: Int] = [:]
        for try await (connector, count) in rows.decode((String, Int).self) { counts[connector] = count }
        return counts
    }

    /// Marks the open dead letters `ids` dropped (``StatusByID``: not a read of all of `dead_letters_open`, thousands
    /// after an outage of a target, for the few ids support named).
    package static func dropQuery(_ ids: [Int64], reason: String, actor: String) -> PostgresQuery {
        """
        UPDATE dead_letters SET status = 'dropped', resolved_at = now(), resolved_by = \(actor), resolution_reason = \(reason)
        WHERE id = ANY(\(ids)) AND \(unescaped: StatusByID.is("open")) RETURNING id
        """
    }

    /// Drops dead letters for good, with the reason, recorded in the audit log.
    public func drop(_ ids: [Int64], reason: String, actor: String) async throws -> [Int64] {
        try await database.client.checkedTransaction(logger: logger) { tx in
            let rows = try await tx.query(Self.dropQuery(ids, reason: reason, actor: actor), logger: logger)
            var dropped: [Int64] = []
            for try await id in rows.decode(Int64.self) { dropped.append(id) }
            for id in dropped.sorted() {
                try await AuditRecords.insert(
                    actor: actor, action: "dlq.drop", target: "dead_letter:\(id)", reason: reason,
                    details: [:], on: tx, logger: logger)
            }
            return dropped.sorted()
        }
    }

    static func read(_ query: PostgresQuery, on database: Database, logger: Logger) async throws -> [DeadLetter] {
        let rows = try await database.client.query(query, logger: logger)
        var letters: [DeadLetter] = []
        for try await row in rows {
            let c = Array(row)
            letters.append(
                DeadLetter(
                    id: try c[0].decode(Int64.self), outboxID: try c[1].decode(Int64.self), connector: try c[2].decode(String.self),
                    recordKey: try c[3].decode(String.self), masterDealID: try c[4].decode(String?.self),
                    operation: try c[5].decode(String.self),
                    values: try OutboxPayload(jsonText: try c[6].decode(String.self)).values,
                    idempotencyKey: try c[7].decode(String.self), lineageID: try c[8].decode(UUID.self),
                    errorClass: try c[9].decode(String.self), lastError: try c[10].decode(String?.self),
                    attempts: (try? Self.decodeAttempts(try c[11].decode(String.self))) ?? [], status: try c[12].decode(String.self),
                    replayCount: try c[13].decode(Int.self), createdAt: try c[14].decode(Date.self),
                    resolvedAt: try c[15].decode(Date?.self), resolvedBy: try c[16].decode(String?.self),
                    resolutionReason: try c[17].decode(String?.self)))
        }
        return letters
    }

    static func decodeAttempts(_ text: String) throws -> [AttemptRecord] {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .deferredToDate
        return try decoder.decode([AttemptRecord].self, from: Data(text.utf8))
    }
}
