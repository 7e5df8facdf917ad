import ArgumentParser
import AsyncHTTPClient
import DealSyncConnectors
import DealSyncCore
import DealSyncGateway
import DealSyncStore
import Foundation
import Logging

struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check connectors/ and mappings/ and list every problem as file:line:column.",
        discussion: """
            With --live it also reads each CRM account's reference data (amoCRM pipelines, statuses, custom fields \
            and users; Bitrix24 funnel stages, deal user fields and users) and reports every stage, field, list \
            value and owner the mapping names that the account does not have. --live writes nothing to the CRMs. \
            Connectors with OAuth need --database-url (or DATABASE_URL): their refresh tokens are single-use, so a \
            refresh must be stored where `dealsync serve` finds it. It also says where each connector's first poll \
            starts (poll.start: now, beginning or a date); a connector that was polled before keeps its cursor. Exits 0 when everything is valid and 1 otherwise.
            """)

    @Argument(help: "Directory holding connectors/ and mappings/ (default: the current directory).")
    var directory: String?

    @Option(help: "A KEY=value file filling ${KEY} references (default: <dir>/dealsync.env when it exists).")
    var envFile: String?

    @Flag(help: "Also check the mappings against the live CRM accounts (reads only).")
    var live = false

    @Option(help: "With --live: dealsync's database, where OAuth connectors keep their tokens (default: $DATABASE_URL).")
    var databaseURL: String?

    func run() async throws {
        let options = try ConfigOptions.parse(["--config", directory ?? "."] + (envFile.map { ["--env-file", $0] } ?? []))
        let configuration: Configuration
        do {
            configuration = try options.load()
            print("ok: \(configuration.summary)")
            for line in configuration.pollStarts + configuration.scopes { print("  \(line)") }
        } catch let error as ConfigurationError {
            for diagnostic in error.diagnostics {
                FileHandle.standardError.write(Data("\(diagnostic)\n".utf8))
            }
            FileHandle.standardError.write(Data("\(error.diagnostics.count) problem(s) found\n".utf8))
            throw ExitCode.failure
        }
        guard live else { return }
        let url = databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"]
        let problems: Int
        if let url, !url.isEmpty {
            let database = try RequiredDatabaseOptions.parse(["--database-url", url])
            problems = try await database.withDatabase { db in
                try await Self.checkAccounts(
                    configuration, credentials: DatabaseCredentialStore(tokens: TokenStore(database: db, logger: .cli())))
            }
        } else {
            problems = try await Self.checkAccounts(configuration, credentials: nil)
        }
        if problems > 0 {
            FileHandle.standardError.write(Data("\(problems) problem(s) found in the live accounts\n".utf8))
            throw ExitCode.failure
        }
    }

    /// Checks every CRM connector's mapping against its account; returns how many problems were reported.
    static func checkAccounts(_ configuration: Configuration, credentials: (any CredentialStore)?) async throws -> Int {
        var logger = Logger.cli()
        logger.logLevel = .error
        let registry = ConnectorRegistry(
            configuration: configuration, client: HTTPTransport.sharedClient, credentials: credentials, logger: logger)
        var problems = 0
        func report(_ line: String) {
            problems += 1
            FileHandle.standardError.write(Data("\(line)\n".utf8))
        }
        for config in configuration.crmConnectors {
            let at = config.locations["auth"].map(String.init(describing:)) ?? config.file
            if case .oauth = config.auth, credentials == nil {
                report(
                    "\(at): \(config.id): --live needs --database-url: OAuth refresh tokens are single-use and a refreshed pair must be stored where `dealsync serve` finds it"
                )
                continue
            }
            guard let checker = registry.connector(config.id) as? any AccountChecking else { continue }
            do {
                let result = try await checker.checkAccount()
                for problem in result.problems { report("\(problem)") }
                print("live: \(config.id): \(result.checked): \(result.problems.isEmpty ? "ok" : "\(result.problems.count) problem(s)")")
            } catch {
                report(
                    "\(config.locations["base_url"].map(String.init(describing:)) ?? config.file): \(config.id): cannot read the account: \(error)"
                )
            }
        }
        return problems
    }
}
