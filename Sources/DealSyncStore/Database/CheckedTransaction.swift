import Logging
import PostgresNIO

/// A transaction whose `COMMIT` is proven: PostgreSQL answers the `COMMIT` of a transaction one of whose statements
/// failed with the tag `ROLLBACK` and no error, and PostgresNIO's `withTransaction` takes that for a success. A
/// statement's failure reaches whoever reads its rows, so a failed statement whose rows nobody read (a `SELECT` of
/// `pg_notify` or `set_config`, an `INSERT … RETURNING`) left a transaction that reported success and stored
/// nothing. Here that `COMMIT` throws ``TransactionError`` with ``TransactionError/rolledBackAtCommit``.
extension PostgresConnection {
    /// Runs `body` between `BEGIN` and a checked `COMMIT`; rolls back when `body` throws. Throws ``TransactionError``.
    public func checkedTransaction<Result>(
        logger: Logger, file: String = #file, line: Int = #line, isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        var failure = TransactionError(file: file, line: line)
        do {
            try await query("BEGIN", logger: logger)
        } catch {
            failure.beginError = error
            throw failure
        }
        let result: Result
        do {
            result = try await body(self)
        } catch {
            failure.closureError = error
            do {
                try await query("ROLLBACK", logger: logger)
            } catch {
                failure.rollbackError = error
            }
            throw failure
        }
        let tag: String
        do {
            // The future-returning form, which reports the statement's command tag.
            tag = try await query("COMMIT", logger: logger, file: file, line: line).get().metadata.command
        } catch {
            failure.commitError = error
            throw failure
        }
        guard tag == "COMMIT" else {
            failure.rolledBackAtCommit = tag
            throw failure
        }
        return result
    }
}

extension PostgresClient {
    /// ``PostgresConnection/checkedTransaction(logger:file:line:isolation:_:)`` on a connection of the pool.
    public func checkedTransaction<Result>(
        logger: Logger, file: String = #file, line: Int = #line, isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        try await withConnection(isolation: isolation) { connection in
            try await connection.checkedTransaction(logger: logger, file: file, line: line, isolation: isolation, body)
        }
    }
}

/// Why a checked transaction did not commit: the step that failed and its error, as PostgresNIO's
/// `PostgresTransactionError` tells them, or the tag PostgreSQL answered the `COMMIT` with instead of `COMMIT`.
public struct TransactionError: Error, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var beginError: (any Error)?
    public var closureError: (any Error)?
    public var rollbackError: (any Error)?
    public var commitError: (any Error)?
    /// The `COMMIT` was answered with this tag (`ROLLBACK`): a statement had failed, unread, and nothing was stored.
    public var rolledBackAtCommit: String?

    init(file: String, line: Int) {
        self.file = file
        self.line = line
    }

    /// The error that made the transaction fail, if one was seen.
    public var underlying: (any Error)? { beginError ?? closureError ?? commitError }

    public var description: String {
        if let rolledBackAtCommit {
            return "the transaction at \(file):\(line) was answered \(rolledBackAtCommit) at COMMIT: one of its statements "
                + "failed and nothing was stored"
        }
        let step = beginError != nil ? "BEGIN" : closureError != nil ? "its statements" : "COMMIT"
        // In one line, without the statement's values (``ErrorSummary``).
        return "the transaction at \(file):\(line) failed in \(step): \(underlying.map { ErrorSummary.line($0) } ?? "unknown")"
    }
}

extension PostgresConnection {
    /// Runs `query` and reads its rows to the end, so that a failure while they stream (a lock wait's timeout, a
    /// `pg_notify` refused) is thrown here rather than lost with the rows nobody read.
    public func run(_ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line) async throws {
        for try await _ in try await self.query(query, logger: logger, file: file, line: line) {}
    }
}

extension PostgresClient {
    /// ``PostgresConnection/run(_:logger:file:line:)`` on a connection of the pool.
    public func run(_ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line) async throws {
        for try await _ in try await self.query(query, logger: logger, file: file, line: line) {}
    }
}
