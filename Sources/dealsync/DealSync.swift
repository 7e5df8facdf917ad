import ArgumentParser

@main
struct DealSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dealsync",
        abstract: "Keeps deals consistent in both directions between MasterDeal and amoCRM / Bitrix24.",
        version: DealSyncVersionText.value,
        subcommands: [
            DemoCommand.self,
            ServeCommand.self,
            ValidateCommand.self,
            ExplainCommand.self,
            MigrateCommand.self,
            DLQCommand.self,
            DriftCommand.self,
            SimulateCommand.self,
            VersionCommand.self,
        ]
    )
}
