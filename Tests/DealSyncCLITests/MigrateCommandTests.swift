import DealSyncStore
import DealSyncTestSupport
import Foundation
import Testing

struct MigrateCommandTests {
    @Test func migrateIsIdempotentAgainstAGivenDatabase() async throws {
        let url = try await TestPostgres.freshDatabaseURL(migrated: false)
        let binary = try Repository.dealsyncBinary()
        let first = try await ChildProgram.run(binary, ["migrate", "--database-url", url.revealedURLString()])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("applied \(Migration.all.count) migration(s); schema version \(Migration.latestVersion)"))
        let second = try await ChildProgram.run(binary, ["migrate"], environment: ["DATABASE_URL": url.revealedURLString()])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains("schema is up to date (version \(Migration.latestVersion))"))
    }

    @Test func unreachableDatabaseIsOneLineNamingHostAndPortWithoutPassword() async throws {
        let result = try await ChildProgram.run(
            try Repository.dealsyncBinary(), ["migrate", "--database-url", "postgres://sync:s3cr3t-pw@127.0.0.1:9/dealsync"])
        #expect(result.status == 1)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(result.stderr)")
        #expect(result.stderr.contains("127.0.0.1:9"))
        #expect(!result.stderr.contains("s3cr3t-pw"))
        #expect(result.stdout.isEmpty)
    }

    @Test func withoutADatabaseURLTheDataDirectorysClusterIsCreatedMigratedAndKept() async throws {
        let directory = NSTemporaryDirectory() + "dealsync-migrate-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let binary = try Repository.dealsyncBinary()
        let first = try await ChildProgram.run(binary, ["migrate", "--data-dir", directory], environment: ["DATABASE_URL": ""])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("applied \(Migration.all.count) migration(s)"))
        #expect(FileManager.default.fileExists(atPath: directory + "/pgdata/PG_VERSION"), "the cluster is kept in the data directory")
        #expect(!FileManager.default.fileExists(atPath: directory + "/pgdata/postmaster.pid"), "and stopped after the command")
        let second = try await ChildProgram.run(binary, ["migrate", "--data-dir", directory], environment: ["DATABASE_URL": ""])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains("schema is up to date"), "the same cluster, reused: \(second.stdout)")
    }
}
