import ArgumentParser
import DealSyncCore
import DealSyncStore
import Foundation
import Logging

struct DLQCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Inspect, replay and drop writes that failed for good (the dead-letter queue).",
        subcommands: [List.self, Show.self, Replay.self, Drop.self, Audit.self])

    /// The filters `list` and `replay --all` share.
    struct Filters: ParsableArguments {
        @Option(help: "Only this connector (the write's target).") var connector: String?
        @Option(help: "Only dead letters since a time: 2h, 30m, 1d or an ISO-8601 timestamp.") var since: String?
        @Option(help: "Only this error class (validation, not_found, server_error, rate_limited, timeout, network, auth, ...).")
        var errorClass: String?
        @Option(help: "Only this MasterDeal deal.") var deal: String?

        func filter(status: String?) throws -> DeadLetterFilter {
            var since: Date?
            if let text = self.since {
                guard let date = SinceParser.parse(text) else {
                    throw ValidationError("--since: expected 2h, 30m, 1d or an ISO-8601 timestamp")
                }
                since = date
            }
            return DeadLetterFilter(connector: connector, since: since, errorClass: errorClass, deal: deal, status: status)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List dead letters (open ones unless --status says otherwise).")
        @OptionGroup var database: RequiredDatabaseOptions
        @OptionGroup var filters: Filters
        @Option(help: "open, replayed, dropped or all.") var status = "open"
        @Flag(help: "One JSON document for scripts.") var json = false

        func run() async throws {
            let filter = try filters.filter(status: status == "all" ? nil : status)
            let letters = try await database.withDatabase { db in
                try await DeadLetterStore(database: db, logger: .cli()).list(filter)
            }
            if json { return try JSONOutput.print(["dead_letters": letters]) }
            // REPLAYS counts this write's replays against the loop breaker's limit.
            var table = Table("ID", "CONNECTOR", "DEAL", "OPERATION", "ERROR CLASS", "ATTEMPTS", "REPLAYS", "AGE", "STATUS", "LAST ERROR")
            for letter in letters {
                table.add(
                    String(letter.id), letter.connector, letter.masterDealID ?? "-", letter.operation, letter.errorClass,
                    String(letter.attempts.count), "\(letter.replayCount)/\(DeadLetterReplay.maxReplays)",
                    Age.format(since: letter.createdAt), letter.status,
                    String((letter.lastError ?? "").replacingOccurrences(of: "\n", with: " ").prefix(80)))
            }
            print(table.render())
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one dead letter: payload, every attempt and the lineage that caused it.")
        @OptionGroup var database: RequiredDatabaseOptions
        @Argument(help: "The dead letter's id.") var id: Int64
        @Flag(help: "One JSON document for scripts.") var json = false

        func run() async throws {
            let found = try await database.withDatabase { db -> (DeadLetter, [LineageStep])? in
                let store = DeadLetterStore(database: db, logger: .cli())
                guard let letter = try await store.get(id) else { return nil }
                return (letter, try await store.lineage(of: letter))
            }
            guard let (letter, lineage) = found else {
                FileHandle.standardError.write(Data("dealsync: no dead letter \(id)\n".utf8))
                throw ExitCode(ExitStatus.notFound)
            }
            if json { return try JSONOutput.print(DeadLetterView(letter: letter, lineage: lineage)) }
            print(DeadLetterView(letter: letter, lineage: lineage).text)
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-enqueue dead letters under their original idempotency key, re-decided against the current state.",
            discussion:
                "A value that changed since the write failed is replaced by the current decided value, so a stale value never overwrites a newer one. The relay delivers replays within the target's rate limit. Exit 0 when every replay was enqueued, 3 when nothing matched, 4 when some were refused."
        )
        @OptionGroup var config: ConfigOptions
        @OptionGroup var database: RequiredDatabaseOptions
        @OptionGroup var filters: Filters
        @Argument(help: "Dead letter ids.") var ids: [Int64] = []
        @Flag(help: "Replay every open dead letter matching the filters.") var all = false
        @Flag(help: "Show what would happen and change nothing.") var dryRun = false
        @Option(help: "Who is replaying (default: the OS user).") var actor: String?

        func validate() throws {
            if all == !ids.isEmpty { throw ValidationError("give dead letter ids or --all (with optional filters), not both") }
        }

        func run() async throws {
            let configuration = try config.loadOrExit()
            let actor = Actor.resolve(self.actor)
            let (done, refused) = try await database.withDatabase(configDirectory: config.directory) { db -> (Int, Int) in
                let store = DeadLetterStore(database: db, logger: .cli())
                let targets = all ? try await store.list(try filters.filter(status: "open")).map(\.id) : ids
                guard !targets.isEmpty else { return (0, 0) }
                let replay = DeadLetterReplay(
                    context: SyncContext(database: db, setup: SyncSetup(configuration: configuration), logger: .cli()))
                var done = 0
                var refused = 0
                for (index, id) in targets.enumerated() {
                    let result = try await replay.replay(id, actor: actor, dryRun: dryRun)
                    let progress = "[\(index + 1)/\(targets.count)] dead letter \(id): "
                    switch result {
                    case .requeued(let outbox):
                        done += 1
                        print(
                            progress
                                + (dryRun
                                    ? "would re-enqueue outbox \(outbox) as it was" : "re-enqueued outbox \(outbox) under its original key")
                        )
                    case .requeuedCurrent(let outbox, let changed):
                        done += 1
                        let what = "with current values for \(changed.joined(separator: ", "))"
                        print(
                            progress
                                + (dryRun
                                    ? "would enqueue a new write \(what)" : "enqueued outbox \(outbox.map(String.init) ?? "?") \(what)"))
                    case .alreadyInSync:
                        done += 1
                        print(
                            progress
                                + (dryRun
                                    ? "would resolve it: the target already holds the decided values"
                                    : "resolved: the target already holds the decided values"))
                    case .refused(let reason):
                        refused += 1
                        print(progress + "refused: \(reason)")
                    }
                }
                return (done, refused)
            }
            if done + refused == 0 {
                FileHandle.standardError.write(Data("dealsync: no open dead letters matched\n".utf8))
                throw ExitCode(ExitStatus.notFound)
            }
            print("\(dryRun ? "dry run: " : "")\(done) replayed, \(refused) refused")
            if refused > 0 { throw ExitCode(done > 0 ? ExitStatus.partial : ExitCode.failure.rawValue) }
        }
    }

    struct Drop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Drop dead letters for good, with a reason kept in the audit log.")
        @OptionGroup var database: RequiredDatabaseOptions
        @Argument(help: "Dead letter ids.") var ids: [Int64]
        @Option(help: "Why they are dropped (kept in the audit log).") var reason: String
        @Option(help: "Who is dropping them (default: the OS user).") var actor: String?

        func run() async throws {
            let actor = Actor.resolve(self.actor)
            let dropped = try await database.withDatabase { db in
                try await DeadLetterStore(database: db, logger: .cli()).drop(ids, reason: reason, actor: actor)
            }
            for id in dropped { print("dropped dead letter \(id)") }
            let missing = Set(ids).subtracting(dropped)
            if !missing.isEmpty {
                FileHandle.standardError.write(
                    Data("dealsync: not open or not found: \(missing.sorted().map(String.init).joined(separator: ", "))\n".utf8))
                throw ExitCode(dropped.isEmpty ? ExitStatus.notFound : ExitStatus.partial)
            }
        }
    }

    struct Audit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show every support action taken from the CLI: who, when, what and why.")
        @OptionGroup var database: RequiredDatabaseOptions
        @Option(help: "How many entries, newest first.") var limit = 100
        @Flag(help: "One JSON document for scripts.") var json = false

        func run() async throws {
            let entries = try await database.withDatabase { db in
                try await AuditStore(database: db, logger: .cli()).list(limit: limit)
            }
            if json { return try JSONOutput.print(["audit": entries]) }
            var table = Table("ID", "WHEN", "ACTOR", "ACTION", "TARGET", "REASON / DETAILS")
            for entry in entries {
                let details = entry.details.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                table.add(
                    String(entry.id), Timestamp.iso8601(millis: Int64(entry.at.timeIntervalSince1970 * 1000)), entry.actor, entry.action,
                    entry.target ?? "-", [entry.reason, details.isEmpty ? nil : details].compactMap { $0 }.joined(separator: " · "))
            }
            print(table.render())
        }
    }
}

/// A dead letter as `dlq show` presents it.
struct DeadLetterView: Encodable {
    var letter: DeadLetter
    var lineage: [LineageStep]

    var text: String {
        var lines = [
            "dead letter \(letter.id) (\(letter.status))",
            "  target      \(letter.connector), record \(letter.recordKey), deal \(letter.masterDealID ?? "-")",
            "  operation   \(letter.operation), idempotency key \(letter.idempotencyKey)",
            "  error       \(letter.errorClass): \(letter.lastError ?? "-")",
            "  created     \(Self.time(letter.createdAt)), replayed \(letter.replayCount) time(s)",
            "  lineage     \(letter.lineageID.uuidString.lowercased())",
        ]
        if let resolved = letter.resolvedAt {
            lines.append("  resolved    \(Self.time(resolved)) by \(letter.resolvedBy ?? "?"): \(letter.resolutionReason ?? "")")
        }
        lines.append("payload")
        for (key, value) in letter.values.sorted(by: { $0.key < $1.key }) { lines.append("  \(key) = \(value)") }
        lines.append("attempts")
        for (index, attempt) in letter.attempts.enumerated() {
            lines.append(
                "  \(index + 1). \(Self.time(attempt.at))  \(attempt.status.map { "HTTP \($0)" } ?? "no response")  \(attempt.errorClass)  \(attempt.detail.replacingOccurrences(of: "\n", with: " ").prefix(160))"
            )
        }
        lines.append("caused by")
        if lineage.isEmpty { lines.append("  (no inbox rows share this lineage)") }
        for step in lineage {
            lines.append(
                "  inbox \(step.inboxID)  \(step.connector) \(step.source)  \(step.dedupeKey)  received \(Self.time(step.receivedAt))  \(step.status)"
            )
        }
        return lines.joined(separator: "\n")
    }

    static func time(_ date: Date) -> String { Timestamp.iso8601(millis: Int64(date.timeIntervalSince1970 * 1000)) }
}

enum Age {
    static func format(since date: Date) -> String {
        let seconds = Int(Date().timeIntervalSince(date))
        if seconds < 120 { return "\(seconds)s" }
        if seconds < 7200 { return "\(seconds / 60)m" }
        if seconds < 172_800 { return "\(seconds / 3600)h" }
        return "\(seconds / 86_400)d"
    }
}
