import ArgumentParser
import DealSyncConnectors
import DealSyncCore
import DealSyncGateway
import DealSyncStore
import Foundation
import Logging

struct OnboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "onboard",
        abstract: "Link a CRM account that already holds records to MasterDeal: match, then link, create or leave each record.",
        discussion: """
            Reads the connector's whole account (within its rate limits) and MasterDeal's deals of its account, matches \
            them (the link field first, then the mapping's matching keys) and, with --dry-run, prints what it would do \
            and writes nothing. Without it, it applies the plan in steps: links the pairs (fields that differ are decided \
            by their rules, the link field is written back), creates what matched nothing as the mapping allows, and \
            leaves ambiguous records alone, reported. The writes go through the outbox: a running `dealsync serve` \
            delivers them (--wait shows their progress). Interrupted, it resumes where it stopped when run again. \
            Polling then continues from when onboarding read the account.
            """)

    @OptionGroup var config: ConfigOptions
    @OptionGroup var database: RequiredDatabaseOptions
    @Option(help: "The CRM connector to onboard.") var connector: String
    @Flag(help: "Read and match, print the plan, write nothing.") var dryRun = false
    @Flag(help: "Print the report as one JSON document (progress goes to standard error).") var json = false
    @Option(help: "Records applied per transaction.") var step = 200
    @Flag(help: "After applying, wait until `dealsync serve` has delivered the run's writes, showing progress.") var wait = false
    @Option(help: "Who is onboarding, for the audit log (default: the OS user).") var actor: String?
    @Option(help: "The share of the connector's rate limit onboarding may use; `serve` keeps the rest.") var rateShare = 0.5

    func validate() throws {
        guard (1...5000).contains(step) else { throw ValidationError("--step must be between 1 and 5000") }
        guard rateShare > 0, rateShare <= 1 else { throw ValidationError("--rate-share must be above 0 and at most 1") }
    }

    func run() async throws {
        var configuration = try config.loadOrExit()
        // Onboarding reads the account while `serve` goes on using it: it takes its share of the budget.
        for index in configuration.connectors.indices where configuration.connectors[index].id == connector {
            configuration.connectors[index].rateLimit.requestsPerSecond *= rateShare
        }
        let actor = Actor.resolve(self.actor)
        let (connector, dryRun, json, stepSize, wait) = (self.connector, self.dryRun, self.json, step, self.wait)
        let report = try await database.withDatabase(configDirectory: config.directory) { [configuration] db -> OnboardingReport in
            var logger = Logger.cli()
            logger.logLevel = .error
            let version = try await Migrator.currentVersion(db, logger: logger)
            guard version == Migration.latestVersion else {
                throw CLIError("the database schema is at version \(version), not \(Migration.latestVersion): run `dealsync migrate` first")
            }
            let registry = ConnectorRegistry(
                configuration: configuration, client: HTTPTransport.sharedClient,
                credentials: DatabaseCredentialStore(database: db, logger: logger), logger: logger)
            let store = OnboardingStore(context: SyncContext(database: db, setup: SyncSetup(configuration: configuration), logger: logger))
            let onboarder: Onboarder
            do throws(Onboarder.Refusal) {
                onboarder = try Onboarder(configuration: configuration, registry: registry, store: store, connector: connector)
            } catch {
                throw CLIError(error.description)
            }
            let terminal = Progress(json: json)
            var phaseStarted = Date()
            var seconds: [String: Double] = [:]
            func phase(_ name: String) {
                seconds[name] = (Date().timeIntervalSince(phaseStarted) * 1000).rounded() / 1000
                phaseStarted = Date()
            }
            let reading = try await onboarder.read { side, count in
                terminal.say("reading \(side == .crm ? connector : "MasterDeal"): \(count) records", transient: true)
            }
            phase("read")
            let (plan, differences) = try await onboarder.plan(reading)
            phase("plan")
            let kind = configuration.connectors.first { $0.id == connector }?.kind ?? .amocrm
            var report = OnboardingReport(
                connector: connector, crm: kind, reading: reading, plan: plan, differences: differences, dryRun: dryRun)
            guard !dryRun else {
                report.seconds = seconds
                return report
            }
            let started = Date()
            let (run, done) = try await onboarder.apply(plan, reading: reading, actor: actor, stepSize: stepSize) { progress in
                let rate = Double(progress.applied) / max(Date().timeIntervalSince(started), 0.001)
                let left = Double(progress.total - progress.applied) / max(rate, 0.001)
                terminal.say(
                    "applied \(progress.applied)/\(progress.total) (\(Int(rate)) records/s, about \(Int(left.rounded(.up))) s left)",
                    transient: progress.applied < progress.total)
            }
            phase("apply")
            report.run = run.id.uuidString.lowercased()
            report.resumed = run.resumed
            report.done = done
            if wait {
                let waitStarted = Date()
                while true {
                    let (waiting, delivered, dead) = try await store.progress(of: run)
                    let rate = Double(delivered) / max(Date().timeIntervalSince(waitStarted), 0.001)
                    terminal.say(
                        "delivered \(delivered) of \(waiting + delivered + dead) writes\(dead > 0 ? ", \(dead) dead letters" : "")"
                            + (waiting > 0 && rate > 0 ? ", about \(Int((Double(waiting) / rate).rounded(.up))) s left" : ""),
                        transient: waiting > 0)
                    if waiting == 0 { break }
                    try await Task.sleep(for: .milliseconds(500))
                }
                phase("delivery")
            }
            report.seconds = seconds
            return report
        }
        if json {
            try JSONOutput.print(report)
        } else {
            print(report.text)
        }
    }

    /// Progress lines: rewritten in place on a terminal, one per line otherwise; on standard error with --json.
    final class Progress: Sendable {
        let json: Bool
        let isTerminal: Bool

        init(json: Bool) {
            self.json = json
            isTerminal = isatty(json ? STDERR_FILENO : STDOUT_FILENO) == 1
        }

        func say(_ line: String, transient: Bool) {
            let handle = json ? FileHandle.standardError : FileHandle.standardOutput
            if isTerminal {
                handle.write(Data("\r\u{1B}[K\(line)\(transient ? "" : "\n")".utf8))
            } else if !transient || line.hasPrefix("applied") {
                handle.write(Data("\(line)\n".utf8))
            }
        }
    }
}
