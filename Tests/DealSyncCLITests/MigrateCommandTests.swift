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

    @Test func withoutADatabaseURLAPrivateClusterIsStartedAndRemoved() async throws {
        let result = try await ChildProgram.run(try Repository.dealsyncBinary(), ["migrate"], environment: ["DATABASE_URL": ""])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("applied \(Migration.all.count) migration(s)"))
        let announced = result.stderr.split(separator: " ").last.map(String.init) ?? ""
        #expect(result.stderr.contains("using a private PostgreSQL at 127.0.0.1:"), "\(result.stderr)")
        _ = announced
    }
}
