import ArgumentParser
import AsyncHTTPClient
import DealSyncCore
import DealSyncGateway
import DealSyncStore
import Foundation
import Logging

struct ExplainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Show how a raw payload is decoded and mapped and, with a database, what would be decided. Writes nothing.",
        discussion: """
            Paste a captured webhook body (an amoCRM form, a Bitrix24 event, a MasterDeal event) or a record the API \
            returned. Without a database it decodes and maps only; with --database-url or DATABASE_URL it also shows the \
            decision per field against the stored state. Exit 1 when the payload cannot be decoded.
            """)

    @OptionGroup var config: ConfigOptions
    @Option(help: "The connector the payload came from.") var connector: String
    @Option(help: "The payload file, or - for standard input.") var file: String
    @Option(help: "postgres://… to show decisions against stored state (default: $DATABASE_URL; none: decode and map only).")
    var databaseURL: String?
    @Flag(help: "One JSON document with an `observations` array.") var json = false

    func run() async throws {
        let configuration = try config.loadOrExit()
        let payload: Data
        if file == "-" {
            payload = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("\(file): cannot read the file") }
            payload = data
        }
        let logger = {
            var l = Logger.cli(); l.logLevel = .error; return l
        }()
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let registry = ConnectorRegistry(configuration: configuration, client: client, credentials: nil, logger: logger)
        let explanation: Explanation
        do {
            defer { client.shutdown(queue: .global()) { _ in } }
            let urlText = databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
            if let urlText {
                let url: DatabaseURL
                do { url = try DatabaseURL(parsing: urlText) } catch { throw CLIError(error.description) }
                explanation = try await Database.withDatabase(url, logger: logger, maximumConnections: 2) { db in
                    try await Explainer(configuration: configuration, registry: registry, links: LinkReader(database: db, logger: logger))
                        .explain(connector: connector, payload: payload)
                }
            } else {
                explanation = try await Explainer(configuration: configuration, registry: registry, links: nil)
                    .explain(connector: connector, payload: payload)
            }
        } catch let failure as Explainer.Failure {
            FileHandle.standardError.write(Data("dealsync: \(failure.description)\n".utf8))
            throw ExitCode.failure
        } catch let error as DatabaseError {
            throw CLIError(error.description)
        }
        if json {
            try JSONOutput.print(explanation)
        } else {
            print(Self.text(explanation))
        }
    }

    static func text(_ e: Explanation) -> String {
        var lines = ["\(e.connector): read as a \(e.readAs)"]
        if let ignored = e.ignored { lines.append("ignored: \(ignored)") }
        if !e.fetch.isEmpty {
            lines.append("ids only — the gateway fetches these records before deciding: \(e.fetch.joined(separator: ", "))")
        }
        for o in e.observations {
            lines.append("")
            lines.append(
                "\(o.side) record \(o.recordID): \(o.action) at \(o.stamp ?? "no timestamp")"
                    + (o.linkedMasterID.map { ", master_deal_id \($0)" } ?? "") + (o.byIntegration ? ", made by an integration" : ""))
            var table = Table("FIELD", "SOURCE", "VALUE", "CANONICAL", "OTHER SIDE", "RULE", "NOTE")
            for f in o.mapped {
                table.add(
                    f.field, f.sourceKey, f.sourceValue, f.canonical ?? "-", f.otherSide ?? "-", "\(f.direction) \(f.rule)", f.problem ?? ""
                )
            }
            lines.append(table.render())
            if let d = o.decision {
                lines.append("decision: \(d.link)")
                for (field, why) in d.perField.sorted(by: { $0.key < $1.key }) { lines.append("  \(field): \(why)") }
                for w in d.writes {
                    let values = w.values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
                    lines.append("  would \(w.operation) \(w.target): \(values)")
                }
                for entry in d.divergence { lines.append("  would log \(entry)") }
                if d.writes.isEmpty { lines.append("  would write nothing") }
            }
        }
        return lines.joined(separator: "\n")
    }
}
