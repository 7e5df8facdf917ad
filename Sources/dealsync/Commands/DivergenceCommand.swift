import ArgumentParser
import DealSyncCore
import DealSyncStore
import Foundation

struct DivergenceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "divergence",
        abstract: "Browse the divergence log: conflicts, one-way violations, deletes, unmapped values and drift.",
        subcommands: [List.self, Show.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List divergence entries, oldest first (the newest --limit of them), with both values, the rule and the winner.",
            discussion: "Exit 0 (an empty list prints (none)), 64 for a malformed option.")
        @OptionGroup var database: RequiredDatabaseOptions
        @Option(help: "Only this connector (the CRM side of the entry).") var connector: String?
        @Option(help: "Only this kind: conflict, one_way_violation, drift, delete or unmapped_value.") var kind: String?
        @Option(help: "Only this mapped field.") var field: String?
        @Option(help: "Only this MasterDeal deal.") var deal: String?
        @Option(help: "Only entries since a time: 2h, 30m, 1d or an ISO-8601 timestamp.") var since: String?
        @Option(help: "Only entries before a time: 2h, 30m, 1d or an ISO-8601 timestamp.") var until: String?
        @Option(help: "At most this many entries (the newest).") var limit = 200
        @Flag(help: "One JSON document for scripts.") var json = false

        func validate() throws {
            if let kind, DivergenceEntry.Kind(rawValue: kind) == nil {
                throw ValidationError("--kind: expected one of \(DivergenceEntry.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            for (name, value) in [("--since", since), ("--until", until)] {
                if let value, SinceParser.parse(value) == nil {
                    throw ValidationError("\(name): expected 2h, 30m, 1d or an ISO-8601 timestamp")
                }
            }
            if limit < 1 { throw ValidationError("--limit: at least 1") }
        }

        func run() async throws {
            let filter = DivergenceStore.Filter(
                kinds: kind.map { [$0] }, connector: connector, deal: deal, field: field, since: since.flatMap(SinceParser.parse),
                until: until.flatMap(SinceParser.parse), limit: limit, newest: true)
            let entries = try await database.withDatabase { db in
                try await DivergenceStore(database: db, logger: .cli()).list(filter)
            }
            if json { return try JSONOutput.print(["divergence": entries]) }
            var table = Table(
                "ID", "WHEN", "KIND", "CONNECTOR", "DEAL", "RECORD", "FIELD", "RULE", "WINNER", "MASTERDEAL", "CRM", "OUTCOME")
            for e in entries {
                table.add(
                    String(e.id), DeadLetterView.time(e.createdAt), e.kind, e.connector, e.masterDealID ?? "-", e.recordID ?? "-",
                    e.field ?? "-", e.rule ?? "-", e.winner ?? "-", DivergenceView.value(e.masterValue, at: e.masterAt),
                    DivergenceView.value(e.crmValue, at: e.crmAt),
                    e.kind == "drift" ? "\(e.open ? "open" : "closed"): \(e.outcome)" : e.outcome)
            }
            print(table.render())
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one divergence entry: both values and timestamps, the rule, the winner, what was done and its lineage.",
            discussion: "Exit 0, or 3 when there is no such entry.")
        @OptionGroup var database: RequiredDatabaseOptions
        @Argument(help: "The entry's id.") var id: Int64
        @Flag(help: "One JSON document for scripts.") var json = false

        func run() async throws {
            let found = try await database.withDatabase { db in
                try await DivergenceStore(database: db, logger: .cli()).get(id)
            }
            guard let entry = found else {
                FileHandle.standardError.write(Data("dealsync: no divergence entry \(id)\n".utf8))
                throw ExitCode(ExitStatus.notFound)
            }
            if json { return try JSONOutput.print(entry) }
            print(DivergenceView.text(entry))
        }
    }
}

/// A divergence entry as the `divergence` commands present it.
enum DivergenceView {
    static func value(_ value: FieldValue?, at date: Date?) -> String {
        (value?.description ?? "-") + (date.map { " @ \(DeadLetterView.time($0))" } ?? "")
    }

    static func text(_ e: DivergenceRecord) -> String {
        var lines = [
            "divergence \(e.id): \(e.kind)\(e.kind == "drift" ? " (\(e.open ? "open" : "closed"))" : "")",
            "  when        \(DeadLetterView.time(e.createdAt))" + (e.closedAt.map { ", closed \(DeadLetterView.time($0))" } ?? ""),
            "  where       \(e.connector) record \(e.recordID ?? "-"), deal \(e.masterDealID ?? "-"), field \(e.field ?? "-")",
            "  MasterDeal  \(value(e.masterValue, at: e.masterAt))",
            "  CRM         \(value(e.crmValue, at: e.crmAt))",
            "  rule        \(e.rule ?? "-")",
            "  winner      \(e.winner ?? "-")",
            "  outcome     \(e.outcome)",
            "  lineage     \(e.lineageID?.uuidString.lowercased() ?? "-")",
        ]
        for (key, value) in e.detail.sorted(by: { $0.key < $1.key }) {
            lines.append("  \(key.padding(toLength: 11, withPad: " ", startingAt: 0)) \(value)")
        }
        if let deal = e.masterDealID { lines.append("the deal's whole story: dealsync history \(deal)") }
        return lines.joined(separator: "\n")
    }
}
