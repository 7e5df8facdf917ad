import ArgumentParser
import DealSyncCore
import DealSyncStore
import Foundation
import Logging

struct ConnectorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connector",
        abstract: "See each connector's state, resume a paused one, or make dealsync forget its stored OAuth tokens.",
        subcommands: [Status.self, Resume.self, ForgetTokens.self])

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Show every connector: paused or active and why, its last poll, writes waiting, open dead letters, stored OAuth tokens.",
            discussion:
                "Connectors found in the database but no longer configured are listed too, so writes left for them are not forgotten.")
        @OptionGroup var config: ConfigOptions
        @OptionGroup var database: RequiredDatabaseOptions
        @Option(help: "Only this connector.") var connector: String?
        @Flag(help: "One JSON document for scripts.") var json = false

        func run() async throws {
            let configuration = try config.loadOrExit()
            if let connector { try ConnectorCommand.requireConfigured(connector, in: configuration, directory: config.directory) }
            let views = try await database.withDatabase(configDirectory: config.directory) { db in
                try await ConnectorStatusView.gather(configuration: configuration, database: db)
            }.filter { connector == nil || $0.id == connector }
            if json { return try JSONOutput.print(["connectors": views]) }
            var table = Table(
                "CONNECTOR", "KIND", "STATE", "LANE IN", "SINCE", "LAST POLL", "WAITING", "OLDEST", "DEAD LETTERS", "OAUTH TOKENS",
                "REASON")
            for view in views {
                table.add(
                    view.id, view.kind ?? "(not configured)", view.paused ? "paused" : "active",
                    view.laneRunner.map { $0.isEmpty ? "(an older version)" : $0 } ?? (view.kind == nil ? "-" : "nobody"),
                    view.pausedSince.map { Age.format(since: $0) + " ago" } ?? "-",
                    view.lastPollAt.map { Age.format(since: $0) + " ago" } ?? "never",
                    String(view.outboxOpen), view.outboxOpen > 0 ? "\(Int(view.outboxOldestSeconds))s" : "-",
                    String(view.deadLettersOpen), view.oauthTokens?.text ?? (view.auth == "oauth" ? "none stored" : "-"),
                    view.reason ?? "")
            }
            print(table.render())
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resume a paused connector by hand, after its cause is fixed (recorded in the audit log).",
            discussion:
                "A paused connector resumes by itself when a probe write succeeds; this is for one with no write waiting. Running processes pick it up on their next cycle. If the cause is not fixed, the next call pauses it again. Exit 0 when resumed or not paused, 3 for a connector that is not configured."
        )
        @OptionGroup var config: ConfigOptions
        @OptionGroup var database: RequiredDatabaseOptions
        @Argument(help: "The connector's id.") var connector: String
        @Option(help: "Why it is resumed (kept in the audit log).") var reason: String?
        @Option(help: "Who is resuming it (default: the OS user).") var actor: String?

        func run() async throws {
            let configuration = try config.loadOrExit()
            try ConnectorCommand.requireConfigured(connector, in: configuration, directory: config.directory)
            let actor = Actor.resolve(self.actor)
            let connector = self.connector
            let reason = self.reason
            let was = try await database.withDatabase(configDirectory: config.directory) { db in
                try await ConnectorStatusStore(database: db, logger: .cli()).resume(connector, actor: actor, reason: reason)
            }
            guard let was else {
                print("\(connector) is not paused; nothing changed")
                return
            }
            let since = was.since.map { " since \(Age.format(since: $0)) ago" } ?? ""
            print("resumed \(connector) (paused\(since): \(was.reason ?? "no reason recorded"))")
        }
    }

    struct ForgetTokens: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "forget-tokens",
            abstract: "Delete a connector's stored OAuth token pair, so dealsync starts again from the refresh token in its configuration.",
            discussion:
                "For re-authorising after a lost grant: put the new refresh token into the configuration's environment, stop every dealsync serve process (a running one keeps the old pair in memory and would store it again), run this, then start them. It refuses while a dealsync serve process is connected to the database. Recorded in the audit log; no token is ever printed."
        )
        @OptionGroup var config: ConfigOptions
        @OptionGroup var database: RequiredDatabaseOptions
        @Argument(help: "The connector's id.") var connector: String
        @Option(help: "Why the pair is forgotten (kept in the audit log).") var reason: String
        @Option(help: "Who is doing it (default: the OS user).") var actor: String?

        func run() async throws {
            let configuration = try config.loadOrExit()
            let connectorConfig = try ConnectorCommand.requireConfigured(connector, in: configuration, directory: config.directory)
            guard case .oauth = connectorConfig.auth else {
                throw CLIError(
                    "\(connector) does not use OAuth (\(ConnectorStatusView.authName(connectorConfig.auth))); it has no stored tokens to forget"
                )
            }
            let actor = Actor.resolve(self.actor)
            let connector = self.connector
            let reason = self.reason
            let forgotten = try await database.withDatabase(configDirectory: config.directory) { db -> TokenStore.Summary?? in
                let running = try await OutboxClaims(database: db, logger: .cli()).presentWorkers()
                guard running == 0 else { return .none }
                return .some(try await TokenStore(database: db, logger: .cli()).forget(connector: connector, actor: actor, reason: reason))
            }
            guard let forgotten else {
                throw CLIError(
                    "a dealsync serve process is still connected to this database; stop every one first (a running process keeps the old token pair in memory and would store it again), then run this and start them"
                )
            }
            guard let forgotten else {
                print("no stored tokens for \(connector); nothing changed")
                return
            }
            print(
                "forgot the stored token pair of \(connector) (generation \(forgotten.generation)); start dealsync serve again to use the configured refresh token"
            )
        }
    }

    /// The connector's configuration, or exit 3 naming the connectors that are configured.
    @discardableResult
    static func requireConfigured(_ id: String, in configuration: Configuration, directory: String) throws -> ConnectorConfig {
        if let found = configuration.connector(id) { return found }
        let known = configuration.connectors.map(\.id).sorted().joined(separator: ", ")
        FileHandle.standardError.write(Data("dealsync: no connector '\(id)' in \(directory)/connectors (configured: \(known))\n".utf8))
        throw ExitCode(ExitStatus.notFound)
    }
}

/// One connector as `connector status` shows it.
struct ConnectorStatusView: Encodable {
    var id: String
    var kind: String?
    var auth: String?
    var paused: Bool
    var reason: String?
    var pausedSince: Date?
    /// When a poll last succeeded (in whichever process held the connector's lane).
    var lastPollAt: Date?
    /// The `serve` process (its worker name) running the connector's lane now: for a CRM its inbox, polls and
    /// writes; for MasterDeal its polls. `nil`: no process runs it.
    var laneRunner: String?
    var outboxOpen: Int
    var outboxOldestSeconds: Double
    var deadLettersOpen: Int
    var oauthTokens: TokenStore.Summary?

    enum CodingKeys: String, CodingKey {
        case id, kind, auth, paused, reason, pausedSince = "paused_since", lastPollAt = "last_poll_at", laneRunner = "lane_runner",
            outboxOpen = "outbox_open",
            outboxOldestSeconds = "outbox_oldest_seconds", deadLettersOpen = "dead_letters_open", oauthTokens = "oauth_tokens"
    }

    static func authName(_ auth: ConnectorConfig.Auth) -> String {
        switch auth {
        case .bearer: "bearer"
        case .oauth: "oauth"
        case .inboundWebhook: "inbound_webhook"
        }
    }

    /// Every configured connector in file order, then any the database still knows that is no longer configured.
    static func gather(configuration: Configuration, database: Database) async throws -> [ConnectorStatusView] {
        let logger = Logger.cli()
        let states = try await ConnectorStatusStore(database: database, logger: logger).states()
        let depth = try await OutboxClaims(database: database, logger: logger).depth()
        let dead = try await DeadLetterStore(database: database, logger: logger).openCounts()
        let tokens = try await TokenStore(database: database, logger: logger).summaries()
        let polled = try await PollStore(database: database, logger: logger).lastPolled()
        var ids = configuration.connectors.map(\.id)
        let runners = try await LaneLocks(database: database, logger: logger).runners(of: ids)
        let configured = Set(ids)
        let known = Set(states.keys).union(depth.map(\.target)).union(dead.keys).union(tokens.keys)
        ids += known.subtracting(configured).sorted()
        return ids.map { id in
            let config = configuration.connector(id)
            let state = states[id]
            let waiting = depth.first { $0.target == id }
            return ConnectorStatusView(
                id: id, kind: config?.kind.rawValue, auth: config.map { authName($0.auth) }, paused: state?.paused ?? false,
                reason: state?.paused == true ? state?.reason : nil, pausedSince: state?.paused == true ? state?.since : nil,
                lastPollAt: polled[id], laneRunner: runners[id],
                outboxOpen: waiting?.open ?? 0, outboxOldestSeconds: waiting?.oldestSeconds ?? 0, deadLettersOpen: dead[id] ?? 0,
                oauthTokens: tokens[id])
        }
    }
}

extension TokenStore.Summary {
    /// The table's OAUTH TOKENS cell.
    var text: String {
        let expiry = accessExpiresAt.map { $0 > Date() ? ", access valid \(Int($0.timeIntervalSinceNow / 60))m" : ", access expired" } ?? ""
        return "generation \(generation)\(expiry)\(hasRefreshToken ? "" : ", no refresh token")"
    }
}
