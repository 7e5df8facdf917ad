import DealSyncStore
import DealSyncTestSupport
import Logging
import PostgresNIO
import Synchronization
import Testing

/// A command's first statement is sent as soon as its database is opened: the pool is running by then, so
/// PostgresNIO never warns that a connection was leased from a pool not yet run (which every CLI command printed,
/// about one time in three, before its output).
struct DatabaseStartTests {
    /// Keeps the messages logged at warning level or above.
    struct Warnings: LogHandler {
        let kept: Arc
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .warning

        final class Arc: Sendable {
            let messages = Mutex<[String]>([])
        }

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            kept.messages.withLock { $0.append(event.message.description) }
        }
    }

    @Test func aStatementSentAtOnceFindsThePoolRunning() async throws {
        let url = try await TestPostgres.freshDatabaseURL(migrated: false)
        let warnings = Warnings.Arc()
        let logger = Logger(label: "start") { _ in Warnings(kept: warnings) }
        let opened = 20
        var answered = 0
        for _ in 0..<opened {
            answered += try await Database.withDatabase(url, logger: logger) { database in
                var one = 0
                for try await value in try await database.client.query("SELECT 1", logger: logger).decode(Int.self) { one = value }
                return one
            }
        }
        #expect(answered == opened, "every database answered its first statement")
        #expect(warnings.messages.withLock { $0 } == [])
    }
}
