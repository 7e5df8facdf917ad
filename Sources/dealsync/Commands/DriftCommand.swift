import ArgumentParser
import AsyncHTTPClient
import DealSyncCore
import DealSyncGateway
import DealSyncStore
import Foundation
import Logging

struct DriftCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drift",
        abstract: "Find and repair drift: records where MasterDeal and a CRM disagree and nothing in flight explains it.",
        subcommands: [List.self, Show.self, Repair.self, Sweep.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List drift entries (all, or only open ones).")
        @OptionGroup var database: RequiredDatabaseOptions
        @Option(help: "Only this CRM connector.") var connector: String?
        @Option(help: "Only this MasterDeal deal.") var deal: String?
        @Flag(help: "Only drift that is still open.") var open = false
        @Flag(help: "One JSON document for scripts.") var json = false

        func run() async throws {
            let entries = try await database.withDatabase { db in
                try await DivergenceStore(database: db, logger: .cli()).list(
                    .init(kinds: ["drift"], connector: connector, deal: deal, openOnly: open))
            }
            if json { return try JSONOutput.print(["drift": entries]) }
            var table = Table("ID", "CONNECTOR", "DEAL", "RECORD", "FIELD", "MASTERDEAL", "CRM", "LAST CHANGED", "OPEN", "AGE", "OUTCOME")
            for e in entries {
                table.add(
                    String(e.id), e.connector, e.masterDealID ?? "-", e.recordID ?? "-", e.field ?? "-", e.masterValue?.description ?? "-",
                    e.crmValue?.description ?? "-", e.detail["last_changed"] ?? "-", e.open ? "open" : "closed",
                    Age.format(since: e.createdAt), e.outcome)
            }
            print(table.render())
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one drift entry: both values, the field's history on both sides and what its rule would do.")
        @OptionGroup var config: ConfigOptions
        @OptionGroup var database: RequiredDatabaseOptions
        @Argument(help: "The drift entry's id.") var id: Int64
        @Flag(help: "One JSON document for scripts.") var json = false

        func run() async throws {
            let configuration = try config.loadOrExit()
            let found = try await database.withDatabase(configDirectory: config.directory) {
                db -> (DivergenceRecord, [DivergenceRecord], [String: FieldState])? in
                let store = DivergenceStore(database: db, logger: .cli())
                guard let entry = try await store.get(id), entry.kind == "drift" else { return nil }
                let history = try await store.list(.init(deal: entry.masterDealID, field: entry.field)).filter {
                    $0.connector == entry.connector
                }
                var states: [String: FieldState] = [:]
                if let record = entry.recordID,
                    let link = try await LinkReader(database: db, logger: .cli()).link(connector: entry.connector, recordID: record)
                {
                    states = link.fields
                }
                return (entry, history, states)
            }
            guard let (entry, history, states) = found else {
                FileHandle.standardError.write(Data("dealsync: no drift entry \(id)\n".utf8))
                throw ExitCode(ExitStatus.notFound)
            }
            let rule = Self.rule(entry, configuration: configuration, states: states)
            if json {
                struct View: Encodable { var drift: DivergenceRecord; var history: [DivergenceRecord]; var rule: String }
                return try JSONOutput.print(View(drift: entry, history: history, rule: rule))
            }
            var lines = [
                "drift \(entry.id) (\(entry.open ? "open" : "closed"))  \(entry.connector) record \(entry.recordID ?? "-"), deal \(entry.masterDealID ?? "-"), field \(entry.field ?? "-")",
                "  MasterDeal  \(entry.masterValue?.description ?? "-")  (\(entry.masterAt.map(DeadLetterView.time) ?? "no timestamp"))",
                "  CRM         \(entry.crmValue?.description ?? "-")  (\(entry.crmAt.map(DeadLetterView.time) ?? "no timestamp"))",
                "  last changed: \(entry.detail["last_changed"] ?? "unknown"); last sync lineage \(entry.detail["last_sync_lineage"] ?? "-")",
                "  opened \(DeadLetterView.time(entry.createdAt))" + (entry.closedAt.map { ", closed \(DeadLetterView.time($0))" } ?? ""),
                "rule", "  \(rule)", "history of the field (divergence log)",
            ]
            for h in history {
                lines.append(
                    "  \(DeadLetterView.time(h.createdAt))  \(h.kind)  master=\(h.masterValue?.description ?? "-") crm=\(h.crmValue?.description ?? "-")  \(h.outcome)"
                )
            }
            print(lines.joined(separator: "\n"))
        }

        static func rule(_ entry: DivergenceRecord, configuration: Configuration, states: [String: FieldState]) -> String {
            guard let connector = configuration.connector(entry.connector), let mapping = configuration.mapping(for: connector),
                let name = entry.field, let field = mapping.field(named: name)
            else { return "the record is missing on one side: repair by hand (unlink or recreate)" }
            var text = "\(field.direction.rawValue), \(field.conflict), repair: \(field.repair.rawValue)"
            if let decided = states[name]?.decided {
                let transformer = FieldTransformer(field: field, mapping: mapping)
                let crm = (try? transformer.toCRM(decided).get())?.description ?? "-"
                text +=
                    "; a repair re-reads both records, decides any change the webhooks missed by this rule, then writes the decided value \(decided) (CRM: \(crm)) where a side differs"
            }
            return text
        }
    }

    struct Repair: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Repair drift now: re-read both records, re-decide by the field's rule and write where a side differs (audited).",
            discussion:
                "Exit 0 when every repair was enqueued or found the sides agreeing, 3 when nothing matched, 4 when some were refused.")
        @OptionGroup var config: ConfigOptions
        @OptionGroup var database: RequiredDatabaseOptions
        @Argument(help: "Drift entry ids.") var ids: [Int64] = []
        @Flag(help: "Repair every open drift matching --connector.") var all = false
        @Option(help: "Only this CRM connector (with --all).") var connector: String?
        @Flag(help: "Report what would happen and change nothing.") var dryRun = false
        @Option(help: "Who is repairing (default: the OS user).") var actor: String?

        func validate() throws {
            if all == !ids.isEmpty { throw ValidationError("give drift ids or --all, not both") }
        }

        func run() async throws {
            let configuration = try config.loadOrExit()
            let actor = Actor.resolve(self.actor)
            let (done, refused) = try await database.withDatabase(configDirectory: config.directory) { db -> (Int, Int) in
                try await DriftTools.withGateway(configuration, database: db) { gateway in
                    let store = DivergenceStore(database: db, logger: .cli())
                    let entries =
                        all
                        ? try await store.list(.init(kinds: ["drift"], connector: connector, openOnly: true))
                        : try await ids.asyncCompactMap { try await store.get($0) }
                    var done = 0, refused = 0
                    for (index, entry) in entries.enumerated() {
                        let prefix = "[\(index + 1)/\(entries.count)] drift \(entry.id): "
                        guard let reconciler = gateway.reconciler(for: entry.connector) else {
                            refused += 1
                            print(prefix + "refused: \(entry.connector) is not a configured CRM connector")
                            continue
                        }
                        let result = try await reconciler.repair(entry, dryRun: dryRun)
                        switch result {
                        case .enqueued(let writes):
                            done += 1
                            print(
                                prefix
                                    + (dryRun
                                        ? "would re-decide and write \(writes) field(s)"
                                        : "repair enqueued (\(writes) write(s)); it closes once both sides agree"))
                        case .closed:
                            done += 1
                            print(prefix + (dryRun ? "the sides agree now: would close it" : "the sides agree now: closed"))
                        case .refused(let reason):
                            refused += 1
                            print(prefix + "refused: \(reason)")
                        }
                        if !dryRun {
                            try await AuditStore(database: db, logger: .cli()).record(
                                actor: actor, action: "drift.repair", target: "drift:\(entry.id)", reason: nil,
                                details: ["result": "\(result)"])
                        }
                    }
                    return (done, refused)
                }
            }
            if done + refused == 0 {
                FileHandle.standardError.write(Data("dealsync: no drift matched\n".utf8))
                throw ExitCode(ExitStatus.notFound)
            }
            print("\(dryRun ? "dry run: " : "")\(done) repaired or closed, \(refused) refused")
            if refused > 0 { throw ExitCode(done > 0 ? ExitStatus.partial : ExitCode.failure.rawValue) }
        }
    }

    struct Sweep: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare every linked record of a CRM connector with MasterDeal now, showing progress.",
            discussion: "Uses its own share of the CRM's request budget (--budget-share, default 0.1), on top of a running gateway's.")
        @OptionGroup var config: ConfigOptions
        @OptionGroup var database: RequiredDatabaseOptions
        @Option(help: "The CRM connector to sweep.") var connector: String
        @Option(help: "Share of the CRM's request rate this sweep may use.") var budgetShare = 0.1

        func run() async throws {
            let configuration = try config.loadOrExit()
            guard let connectorConfig = configuration.connector(connector), connectorConfig.kind != .masterdeal else {
                throw CLIError("\(connector) is not a configured CRM connector")
            }
            var settings = connectorConfig.reconcile
            settings.budgetShare = budgetShare
            settings.grace = .zero
            let frozen = settings
            let report = try await database.withDatabase(configDirectory: config.directory) { db in
                try await DriftTools.withGateway(configuration, database: db) { gateway in
                    guard let reconciler = gateway.reconciler(for: connector, settings: frozen) else {
                        throw CLIError("no reconciler for \(connector)")
                    }
                    return try await reconciler.sweep { done, total in print("swept \(done)/\(total) linked records") }
                }
            }
            print(
                "compared \(report.compared) records: \(report.opened) drift opened, \(report.repaired) repaired automatically, \(report.closed) closed"
            )
        }
    }
}

enum DriftTools {
    /// A gateway object (connectors, processor, reconcilers) without running its services.
    static func withGateway<T: Sendable>(
        _ configuration: Configuration, database: Database, _ body: (Gateway) async throws -> T
    ) async throws -> T {
        var logger = Logger.cli()
        logger.logLevel = .error
        let gateway = Gateway(configuration: configuration, database: database, logger: logger)
        do {
            let result = try await body(gateway)
            await gateway.shutdown()
            return result
        } catch {
            await gateway.shutdown()
            throw error
        }
    }
}

extension Array {
    func asyncCompactMap<T>(_ transform: (Element) async throws -> T?) async rethrows -> [T] {
        var result: [T] = []
        for element in self { if let value = try await transform(element) { result.append(value) } }
        return result
    }
}
