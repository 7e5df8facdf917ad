import ArgumentParser
import AsyncHTTPClient
import DealSyncCore
import DealSyncGateway
import DealSyncStore
import Foundation
import Logging

struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Tell one deal's story across every system, in time order, with lineage ids. Reads only.",
        discussion: """
            What each system said about the deal's records (webhooks, polls, MasterDeal events, fetches) with the \
            fields they carried, every field decision with its rule (sequential changes, conflicts, one-way \
            violations), every write with each attempt and its confirmation, dead letters and their replays, drift \
            found and closed, and links made and ended. Personal fields are masked as in the divergence log. \
            Exit 0 when the deal is known, 3 when dealsync has stored nothing about it (or the connector is not \
            configured), 1 for an unknown --field, 64 for a malformed argument.
            """)

    @OptionGroup var config: ConfigOptions
    @OptionGroup var database: RequiredDatabaseOptions
    @Argument(help: "A MasterDeal deal id, or CONNECTOR:RECORD_ID for a CRM record (tour-amocrm:31000001).") var deal: String
    @Option(help: "Only entries since a time: 2h, 30m, 1d or an ISO-8601 timestamp.") var since: String?
    @Option(help: "Only what concerns this mapped field (title, stage, ...).") var field: String?
    @Flag(help: "The timeline alone: no field table, no delivery attempts, long lines cut.") var short = false
    @Flag(help: "One JSON document for scripts.") var json = false

    /// Who the history is about, as given on the command line.
    enum Target: Equatable {
        case deal(String)
        case record(connector: String, id: String)

        static func parse(_ text: String) throws -> Target {
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            guard let colon = trimmed.firstIndex(of: ":") else {
                guard !trimmed.isEmpty else { throw ValidationError("give a MasterDeal deal id or CONNECTOR:RECORD_ID") }
                return .deal(trimmed)
            }
            let connector = String(trimmed[..<colon])
            let id = String(trimmed[trimmed.index(after: colon)...])
            guard !connector.isEmpty, !id.isEmpty, !id.contains(":"), !connector.contains(where: \.isWhitespace) else {
                throw ValidationError("'\(text)' is not CONNECTOR:RECORD_ID (e.g. tour-amocrm:31000001) nor a MasterDeal deal id")
            }
            return .record(connector: connector, id: id)
        }
    }

    func validate() throws {
        _ = try Target.parse(deal)
        if let since, SinceParser.parse(since) == nil { throw ValidationError("--since: expected 2h, 30m, 1d or an ISO-8601 timestamp") }
    }

    func run() async throws {
        let configuration = try config.loadOrExit()
        let target = try Target.parse(deal)
        let masterConnector = configuration.masterDeal?.id ?? "masterdeal"
        if case .record(let connector, _) = target, configuration.connector(connector) == nil {
            let known = configuration.connectors.map(\.id).sorted().joined(separator: ", ")
            FileHandle.standardError.write(Data("dealsync: no connector '\(connector)' (configured: \(known))\n".utf8))
            throw ExitCode(ExitStatus.notFound)
        }
        let since = self.since.flatMap(SinceParser.parse)
        let found = try await database.withDatabase(configDirectory: config.directory) {
            db -> (DealHistory.Subject, DealHistory.Records)? in
            let history = DealHistory(database: db, logger: .cli())
            let subject: DealHistory.Subject? =
                switch target {
                case .deal(let id): try await history.subject(masterDealID: id)
                case .record(let connector, let id) where connector == masterConnector: try await history.subject(masterDealID: id)
                case .record(let connector, let id): try await history.subject(connector: connector, recordID: id)
                }
            guard let subject else { return nil }
            return (subject, try await history.read(subject, masterConnector: masterConnector, since: since))
        }
        guard let (subject, records) = found else {
            let what =
                switch target {
                case .deal(let id): "deal \(id)"
                case .record(let connector, let id): "\(connector) record \(id)"
                }
            FileHandle.standardError.write(Data("dealsync: no \(what): dealsync has stored nothing about it\n".utf8))
            throw ExitCode(ExitStatus.notFound)
        }
        // The connectors decode stored bodies only; nothing is called.
        var logger = Logger.cli()
        logger.logLevel = .error
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { client.shutdown(queue: .global()) { _ in } }
        let registry = ConnectorRegistry(configuration: configuration, client: client, credentials: nil, logger: logger)
        let builder = DealTimelineBuilder(configuration: configuration) { try registry.decode($0) }
        if let field, !builder.fieldNames(of: subject).contains(field) {
            throw CLIError(
                "no field '\(field)' in the mappings of this deal (mapped: \(builder.fieldNames(of: subject).sorted().joined(separator: ", ")))"
            )
        }
        let timeline = builder.build(records, subject: subject, filter: .init(since: since, field: field))
        if json { return try JSONOutput.print(timeline) }
        print(timeline.text(short: short))
    }
}
