import ArgumentParser
import DealSyncCore
import DealSyncStore

enum DealSyncVersionText {
    static let value = "dealsync \(DealSyncVersion.current)"
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print the dealsync version and the database schema version it needs.")

    func run() {
        print(DealSyncVersionText.value)
        print("schema version \(Migration.latestVersion)")
    }
}
