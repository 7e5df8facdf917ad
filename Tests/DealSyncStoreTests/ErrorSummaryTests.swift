import DealSyncStore
import DealSyncTestSupport
import PostgresNIO
import Testing

/// A failure inside a transaction is logged with PostgreSQL's SQLSTATE and message, and the statement when PostgresNIO
/// attaches it (a statement refused before it runs, not one cancelled while its rows stream).
struct ErrorSummaryTests {
    struct Unrelated: Error, CustomStringConvertible {
        var description: String { "not a database error" }
    }

    @Test func aStatementTimeoutInsideATransactionNamesItsState() async throws {
        try await TestPostgres.withDatabase { database in
            var caught: (any Error)?
            do {
                try await database.client.withTransaction(logger: TestPostgres.logger) { tx in
                    try await tx.query("SELECT set_config('statement_timeout', '50', true)", logger: TestPostgres.logger)
                    // Its rows read: PostgresNIO reports a statement's failure to whoever reads its rows.
                    for try await _ in try await tx.query("SELECT pg_sleep(5) AS   slept_for_the_test", logger: TestPostgres.logger) {}
                }
            } catch {
                caught = error
            }
            let error = try #require(caught, "the statement outlived its limit")
            #expect(error is PostgresTransactionError)
            let line = ErrorSummary.line(error)
            // A failure while the rows stream carries no statement (PostgresNIO attaches none then).
            #expect(line == "SQLSTATE 57014; canceling statement due to statement timeout", "\(line)")
        }
    }

    @Test func aStatementPostgreSQLRefusesIsNamedWithItsStateAndText() async throws {
        try await TestPostgres.withDatabase { database in
            var caught: (any Error)?
            do {
                try await database.client.withTransaction(logger: TestPostgres.logger) { tx in
                    for try await _ in try await tx.query("SELECT 1 FROM   no_such_table_for_the_test", logger: TestPostgres.logger) {}
                }
            } catch {
                caught = error
            }
            let line = ErrorSummary.line(try #require(caught))
            #expect(
                line
                    == "SQLSTATE 42P01; relation \"no_such_table_for_the_test\" does not exist; in: SELECT 1 FROM no_such_table_for_the_test",
                "\(line)")
        }
    }

    @Test func anyOtherErrorIsItsDescriptionCutToTheLimit() {
        #expect(ErrorSummary.line(Unrelated()) == "not a database error")
        #expect(ErrorSummary.line(Unrelated(), limit: 7) == "not a d")
    }
}
