import ArgumentParser
import DealSyncCore
import Foundation

struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check connectors/ and mappings/ and list every problem as file:line:column.",
        discussion: "Exits 0 when the configuration is valid and 1 otherwise.")

    @Argument(help: "Directory holding connectors/ and mappings/ (default: the current directory).")
    var directory: String?

    @Option(help: "A KEY=value file filling ${KEY} references (default: <dir>/dealsync.env when it exists).")
    var envFile: String?

    func run() async throws {
        let options = try ConfigOptions.parse(["--config", directory ?? "."] + (envFile.map { ["--env-file", $0] } ?? []))
        do {
            let configuration = try options.load()
            let crm = configuration.crmConnectors.map(\.id).joined(separator: ", ")
            print("ok: \(configuration.connectors.count) connectors (\(crm.isEmpty ? "no CRM" : crm)), \(configuration.mappings.count) mappings")
        } catch let error as ConfigurationError {
            for diagnostic in error.diagnostics {
                FileHandle.standardError.write(Data("\(diagnostic)\n".utf8))
            }
            FileHandle.standardError.write(Data("\(error.diagnostics.count) problem(s) found\n".utf8))
            throw ExitCode.failure
        }
    }
}
