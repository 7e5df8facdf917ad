import ArgumentParser
import DealSyncStore
import Logging

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Bring the database schema up to date (safe to run twice, or from two processes at once).")

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let logger = Logger.cli()
        let report = try await database.withDatabase(logger: logger) { database in
            try await Migrator(logger: logger).migrate(database)
        }
        if report.applied.isEmpty {
            print("schema is up to date (version \(report.currentVersion))")
        } else {
            print("applied \(report.applied.count) migration(s); schema version \(report.currentVersion)")
        }
    }
}
