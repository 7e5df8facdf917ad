import DealSyncStore
import DealSyncTestSupport
import PostgresNIO
import Testing

/// A transaction reports success only when PostgreSQL committed it: a statement that failed while nobody read its
/// rows makes PostgreSQL answer the COMMIT with ROLLBACK, and that is an error, not a success that stored nothing.
struct CheckedTransactionTests {
    typealias F = StoreFixtures
    let logger = TestPostgres.logger

    /// Fails on its third row, after PostgreSQL has described the rows and sent the first two.
    static let failingMidway: PostgresQuery = "SELECT 10 / (3 - g) FROM generate_series(1, 5) AS g"

    @Test func aStatementThatFailedUnreadMakesTheCommitThrowAndStoresNothing() async throws {
        try await TestPostgres.withDatabase { database in
            try await database.client.query("CREATE TABLE checked (n int)", logger: logger)
            var caught: (any Error)?
            do {
                try await database.client.checkedTransaction(logger: logger) { tx in
                    try await tx.query("INSERT INTO checked VALUES (1)", logger: logger)
                    // Its rows not read: PostgresNIO hands the division's failure to no one.
                    try await tx.query(Self.failingMidway, logger: logger)
                }
            } catch {
                caught = error
            }
            let failure = try #require(caught as? TransactionError, "the transaction reported success: \(String(describing: caught))")
            #expect(failure.rolledBackAtCommit == "ROLLBACK")
            #expect(failure.closureError == nil)
            #expect(ErrorSummary.line(failure).contains("ROLLBACK at COMMIT"), "\(ErrorSummary.line(failure))")
            #expect(try await F.count("checked", in: database) == 0)
        }
    }

    @Test func aCommittedTransactionReturnsItsResultAndAFailingBodyRollsBack() async throws {
        try await TestPostgres.withDatabase { database in
            try await database.client.query("CREATE TABLE checked (n int)", logger: logger)
            let result = try await database.client.checkedTransaction(logger: logger) { tx in
                try await tx.query("INSERT INTO checked VALUES (1)", logger: logger)
                return 42
            }
            #expect(result == 42)
            #expect(try await F.count("checked", in: database) == 1)

            var caught: (any Error)?
            do {
                try await database.client.checkedTransaction(logger: logger) { tx in
                    try await tx.query("INSERT INTO checked VALUES (2)", logger: logger)
                    for try await _ in try await tx.query(Self.failingMidway, logger: logger) {}
                }
            } catch {
                caught = error
            }
            let failure = try #require(caught as? TransactionError)
            #expect((failure.closureError as? PSQLError)?.serverInfo?[.sqlState] == "22012", "\(failure)")
            #expect(failure.rolledBackAtCommit == nil)
            #expect(try await F.count("checked", in: database) == 1)
        }
    }
}
