import ArgumentParser

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

@main
struct DealSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dealsync",
        abstract: "Keeps deals consistent in both directions between MasterDeal and amoCRM / Bitrix24.",
        version: DealSyncVersionText.value,
        subcommands: [
            DemoCommand.self,
            ServeCommand.self,
            ReloadCommand.self,
            ValidateCommand.self,
            ExplainCommand.self,
            OnboardCommand.self,
            MigrateCommand.self,
            DLQCommand.self,
            DriftCommand.self,
            DivergenceCommand.self,
            HistoryCommand.self,
            ConnectorCommand.self,
            SimulateCommand.self,
            VersionCommand.self,
        ]
    )

    /// Standard output is line-buffered even into a file or a pipe, so a long-running command's announcements
    /// (a simulator's URL, the demo's timeline) reach a log as they happen, not at exit.
    static func main() async {
        setvbuf(stdout, nil, _IOLBF, 0)
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
