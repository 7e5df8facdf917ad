import Logging
import PostgresNIO

/// A statement the pipeline sends all the time, kept prepared on each connection: parsed and planned once per
/// connection instead of for every call. Sent as one-off queries, the statements of a lane's batch and a relay's
/// round cost PostgreSQL more to parse and plan than to run: at 50 changes a second, 4 ms of planning per change
/// against 3.7 ms of running every statement (`pg_stat_statements` with `track_planning`), and nearly a fifth of its time
/// at 500 a second. The gateway sends less too: a kept statement's call is its values, not its text and description.
///
/// The text is the statement builder's, whatever the values (they are all binds); the binds' types are the values'.
/// In the transactions that start with ``KeyedPlanning`` the plan kept is the generic one made under its settings;
/// elsewhere PostgreSQL plans the first calls for their values and then keeps the generic plan if it costs no more.
package protocol KeptStatement: SendableMetatype {
    /// The name each connection prepares it under.
    static var name: String { get }
    /// Its text: the builder's, for any values.
    static var sql: String { get }
}

/// A ``KeptStatement``'s call with the values of `query` (its builder's query), as PostgresNIO runs it.
package struct Kept<Statement: KeptStatement>: PostgresPreparedStatement {
    package typealias Row = PostgresRow
    package static var name: String { Statement.name }
    package static var sql: String { Statement.sql }
    let query: PostgresQuery

    package init(_ query: PostgresQuery) {
        assert(query.sql == Statement.sql, "\(Statement.self): the text changed with the values")
        self.query = query
    }

    package func makeBindings() -> PostgresBindings { query.binds }
    package func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
}

extension PostgresConnection {
    /// Runs `query`, the builder's query of `statement`, as that kept statement.
    func query<Statement: KeptStatement>(
        _ statement: Statement.Type, _ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line
    ) async throws -> AsyncThrowingMapSequence<PostgresRowSequence, PostgresRow> {
        try await executeKept(Kept<Statement>(query), logger: logger, file: file, line: line)
    }

    /// Runs a statement kept prepared on this connection. When PostgreSQL refused to prepare it (its `Parse`, sent in
    /// a transaction already aborted by an earlier statement's failure), PostgresNIO keeps that refusal for the
    /// statement's name and answers every later call on this connection with it, without asking PostgreSQL again: the
    /// connection is closed then, so that the pool replaces it and the next connection prepares the statement afresh.
    func executeKept<Statement: PostgresPreparedStatement>(
        _ statement: Statement, logger: Logger, file: String = #fileID, line: Int = #line
    ) async throws -> AsyncThrowingMapSequence<PostgresRowSequence, Statement.Row> {
        do {
            return try await execute(statement, logger: logger, file: file, line: line)
        } catch let error as PSQLError where error.serverInfo?[.routine] == "exec_parse_message" {
            logger.warning(
                "a statement could not be prepared; its connection is closed",
                metadata: ["statement": "\(Statement.name)", "sqlstate": "\(error.serverInfo?[.sqlState] ?? "-")"])
            try? await close()
            throw error
        }
    }

    /// ``query(_:_:logger:file:line:)`` with its rows read to the end (see ``run(_:logger:file:line:)``).
    func run<Statement: KeptStatement>(
        _ statement: Statement.Type, _ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line
    ) async throws {
        for try await _ in try await self.query(statement, query, logger: logger, file: file, line: line) {}
    }
}

extension PostgresClient {
    /// ``PostgresConnection/query(_:_:logger:file:line:)`` on a connection of the pool, its rows read by `read` while
    /// the connection is held.
    func query<Statement: KeptStatement, Result>(
        _ statement: Statement.Type, _ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line,
        isolation: isolated (any Actor)? = #isolation,
        read: (AsyncThrowingMapSequence<PostgresRowSequence, PostgresRow>) async throws -> sending Result
    ) async throws -> sending Result {
        try await withConnection(isolation: isolation) { connection in
            try await read(try await connection.query(statement, query, logger: logger, file: file, line: line))
        }
    }
}
