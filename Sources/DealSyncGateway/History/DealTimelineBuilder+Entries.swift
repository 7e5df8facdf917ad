import DealSyncCore
import DealSyncStore
import Foundation

extension DealTimelineBuilder {
    /// The entries of one timeline as they are made, with the field names and masking they share.
    struct Context {
        typealias Entry = DealTimeline.Entry

        var fields: HistoryFields
        let filter: Filter
        let links: [Int64: DealHistory.Link]
        var entries: [Entry] = []

        var master: String { fields.masterConnector }

        func keeps(_ field: String?) -> Bool { filter.field == nil || field == filter.field }

        static func time(_ date: Date) -> String { Timestamp.iso8601(millis: Int64((date.timeIntervalSince1970 * 1000).rounded())) }

        /// How people call a record: `masterdeal deal D-1`, `tour record 31000001`.
        func record(_ connector: String, _ id: String?) -> String {
            "\(connector) \(connector == master ? "deal" : "record") \(id ?? "(being created)")"
        }

        mutating func shown(_ values: [String: FieldValue], connector: String) -> [String: String] {
            var shown: [String: String] = [:]
            for (key, value) in values {
                let name = fields.field(key: key, connector: connector)
                guard filter.field == nil || name == filter.field else { continue }
                shown[key] = fields.show(value, field: name)
            }
            return shown
        }

        static func list(_ values: [String: String]) -> String {
            values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
        }

        // MARK: Observations

        mutating func observation(_ row: DealHistory.InboxEntry, _ seen: Seen) {
            // MasterDeal's events reach the webhook route; people call them events.
            let source = row.connector == master && row.source == "webhook" ? "event" : row.source
            var info = DealTimeline.Observation(
                inboxID: row.id, source: source, receivedAt: row.receivedAt, stamp: nil, action: "fetch", status: row.status,
                byIntegration: false, fields: [:], error: (row.error ?? seen.error).map(fields.redact))
            var summary: String
            var recordID: String?
            if let observation = seen.observation {
                info.fields = shown(observation.fields, connector: row.connector)
                if filter.field != nil, info.fields.isEmpty { return }
                info.stamp = observation.stamp?.description
                info.action = observation.action.rawValue
                info.byIntegration = observation.byIntegration
                recordID = observation.recordID
                summary =
                    "\(source): \(record(row.connector, observation.recordID)) \(observation.action.rawValue)"
                    + (observation.stamp.map { " as of \($0)" } ?? "") + (observation.byIntegration ? " (made by an integration)" : "")
                if !info.fields.isEmpty { summary += ": " + Self.list(info.fields) }
            } else if !seen.fetched.isEmpty {
                guard filter.field == nil else { return }
                recordID = seen.fetched.first
                summary =
                    "\(source): id-only event for \(record(row.connector, seen.fetched.joined(separator: ", "))); the record is fetched"
            } else {
                summary = "\(source): inbox row \(row.id) of \(row.connector)"
            }
            if row.status == "failed" || row.status == "pending" { summary += " [\(row.status)]" }
            if let error = info.error { summary += " — \(error)" }
            entries.append(
                Entry(
                    at: row.receivedAt, kind: .observation, connector: row.connector, recordID: recordID, lineageID: row.lineageID,
                    summary: summary, observation: info))
        }

        // MARK: Decisions and drift

        mutating func divergence(_ entry: DivergenceRecord) {
            guard keeps(entry.field) else { return }
            let masterValue = entry.masterValue.map { fields.show($0, field: entry.field) }
            let crmValue = entry.crmValue.map { fields.show($0, field: entry.field) }
            let outcome = fields.redact(entry.outcome)
            var decision = DealTimeline.Decision(
                divergenceID: entry.id, kind: entry.kind, order: entry.kind == "conflict" ? "concurrent" : nil, rule: entry.rule,
                winner: entry.winner, masterValue: masterValue, crmValue: crmValue, masterAt: entry.masterAt, crmAt: entry.crmAt,
                outcome: outcome, open: nil)
            let both =
                "MasterDeal \(masterValue ?? "-")\(entry.masterAt.map { " at \(Self.time($0))" } ?? "") vs "
                + "\(entry.connector) \(crmValue ?? "-")\(entry.crmAt.map { " at \(Self.time($0))" } ?? "")"
            let field = entry.field ?? "-"
            let summary: String
            switch entry.kind {
            case "drift":
                decision.open = entry.open
                summary = "drift on \(field): \(both) — \(outcome)"
            case "conflict":
                summary = "conflict on \(field) (\(entry.rule ?? "-"), concurrent): \(both) → \(outcome)"
            case "one_way_violation":
                summary = "one-way violation on \(field) (\(entry.rule ?? "-")): \(both) → \(outcome)"
            default:
                summary =
                    "\(entry.kind.replacingOccurrences(of: "_", with: " ")) \(field)\(entry.rule.map { " (\($0))" } ?? ""): \(both) → \(outcome)"
            }
            entries.append(
                Entry(
                    at: entry.createdAt, kind: entry.kind == "drift" ? .drift : .decision, connector: entry.connector,
                    recordID: entry.recordID, lineageID: entry.lineageID, field: entry.field, summary: summary, decision: decision))
            if entry.kind == "drift", let closed = entry.closedAt {
                var closing = decision
                closing.open = false
                closing.outcome = entry.detail["closed"] ?? "closed"
                entries.append(
                    Entry(
                        at: closed, kind: .driftClosed, connector: entry.connector, recordID: entry.recordID,
                        lineageID: entry.lineageID, field: entry.field,
                        summary: "drift on \(field) closed: \(closing.outcome)", decision: closing))
            }
        }

        // MARK: Writes and attempts

        mutating func writes(
            _ outbox: [DealHistory.OutboxEntry], divergence: [DivergenceRecord],
            observations: [(DealHistory.InboxEntry, Seen)]
        ) {
            // Writes sent in one request share each attempt (same time, worker and outcome): coalesced.
            var carriers: [String: [Int64]] = [:]
            func carrier(_ write: DealHistory.OutboxEntry, _ attempt: AttemptRecord) -> String {
                "\(write.target)\u{0}\(write.recordKey)\u{0}\(attempt.at.timeIntervalSince1970)\u{0}\(attempt.worker ?? "")\u{0}\(attempt.errorClass)"
            }
            for write in outbox {
                for attempt in write.attempts { carriers[carrier(write, attempt), default: []].append(write.id) }
            }
            let logged = Set(divergence.compactMap { entry in entry.lineageID.map { "\($0)\u{0}\(entry.field ?? "")" } })
            let causes = Dictionary(observations.map { ($0.0.id, $0.0.connector) }, uniquingKeysWith: { a, _ in a })
            for write in outbox {
                let values = shown(write.values, connector: write.target)
                if filter.field != nil, values.isEmpty { continue }
                let link = write.linkID.flatMap { links[$0] }
                let recordID = write.target == master ? (write.masterDealID ?? link?.masterDealID) : (link?.recordID ?? write.recordKey)
                let together = Set(write.attempts.flatMap { carriers[carrier(write, $0)] ?? [] }).subtracting([write.id]).sorted()
                if write.operation == "update", let inbox = write.inboxID {
                    decisions(for: write, values: values, link: link, recordID: recordID, logged: logged, causedBy: causes[inbox])
                }
                var summary = "\(write.operation) \(record(write.target, recordID)), outbox \(write.id): \(Self.list(values))"
                summary += " — \(write.status)"
                if !together.isEmpty { summary += ", coalesced with \(together.map(String.init).joined(separator: ", "))" }
                if write.replayCount > 0 { summary += ", replayed \(write.replayCount)×" }
                entries.append(
                    Entry(
                        at: write.createdAt, kind: .write, connector: write.target, recordID: recordID, lineageID: write.lineageID,
                        summary: summary,
                        write: .init(
                            outboxID: write.id, target: write.target, operation: write.operation, status: write.status, values: values,
                            idempotencyKey: write.idempotencyKey, inboxID: write.inboxID, coalescedWith: together,
                            replays: write.replayCount, doneAt: write.doneAt)))
                for (index, attempt) in write.attempts.enumerated() {
                    let group = carriers[carrier(write, attempt)] ?? [write.id]
                    // A coalesced attempt is told once, on its first write.
                    guard group.min() == write.id else { continue }
                    let confirmed = attempt.errorClass == "delivered"
                    let detail = fields.redact(attempt.detail.replacingOccurrences(of: "\n", with: " "))
                    let http = attempt.status.map { "HTTP \($0)" } ?? "no response"
                    let ids = group.sorted().map(String.init).joined(separator: ", ")
                    let summary =
                        confirmed
                        ? "\(write.target) confirmed outbox \(ids) (\(http), attempt \(index + 1))"
                        : "attempt \(index + 1) of outbox \(ids) to \(write.target): \(http), \(attempt.errorClass)"
                            + (detail.isEmpty ? "" : ": \(detail.prefix(160))")
                    entries.append(
                        Entry(
                            at: attempt.at, kind: .attempt, connector: write.target, recordID: recordID, lineageID: write.lineageID,
                            summary: summary,
                            attempt: .init(
                                outboxIDs: group.sorted(), number: index + 1, status: attempt.status, errorClass: attempt.errorClass,
                                confirmed: confirmed, detail: detail, worker: attempt.worker)))
                }
            }
        }

        /// The field decisions behind a write an observation caused, when the divergence log has none: changes
        /// the rules accepted in order (a concurrent decision is always a divergence entry).
        mutating func decisions(
            for write: DealHistory.OutboxEntry, values: [String: String], link: DealHistory.Link?, recordID: String?,
            logged: Set<String>, causedBy source: String?
        ) {
            let target: Side = write.target == master ? .master : .crm
            for (key, value) in values.sorted(by: { $0.key < $1.key }) {
                guard let name = fields.field(key: key, connector: write.target), !logged.contains("\(write.lineageID)\u{0}\(name)") else {
                    continue
                }
                let crm = link?.connector ?? write.target
                let fromSelf = source == write.target
                let outcome =
                    fromSelf
                    ? "\(write.target) does not hold the decided value: wrote \(value) back"
                    : "accepted the \(target.other) change (sequential): wrote \(value) to \(write.target)"
                entries.append(
                    Entry(
                        at: write.createdAt, kind: .decision, connector: crm, recordID: link?.recordID, lineageID: write.lineageID,
                        field: name,
                        summary: "\(name) (\(fields.rule(field: name, connector: crm) ?? "-")): \(outcome)",
                        decision: .init(
                            divergenceID: nil, kind: "change", order: fromSelf ? nil : "sequential",
                            rule: fields.rule(field: name, connector: crm), winner: fromSelf ? nil : target.other.rawValue,
                            masterValue: target == .master ? value : nil, crmValue: target == .crm ? value : nil,
                            masterAt: nil, crmAt: nil, outcome: outcome, open: nil)))
            }
        }

        // MARK: Dead letters, support and links

        mutating func deadLetter(_ letter: DeadLetter) {
            if filter.field != nil, shown(letter.values, connector: letter.connector).isEmpty { return }
            let error = fields.redact((letter.lastError ?? "").replacingOccurrences(of: "\n", with: " "))
            let summary =
                "dead letter \(letter.id): outbox \(letter.outboxID) to \(letter.connector) failed for good "
                + "(\(letter.errorClass) after \(letter.attempts.count) attempt(s)): \(error.prefix(160)) — \(letter.status)"
            entries.append(
                Entry(
                    at: letter.createdAt, kind: .deadLetter, connector: letter.connector, recordID: letter.recordKey,
                    lineageID: letter.lineageID,
                    summary: summary,
                    deadLetter: .init(
                        id: letter.id, outboxID: letter.outboxID, errorClass: letter.errorClass, lastError: error,
                        attempts: letter.attempts.count, status: letter.status, replayCount: letter.replayCount)))
        }

        mutating func support(_ audit: AuditEntry) {
            let target = (audit.target ?? "-").replacingOccurrences(of: "_", with: " ").replacingOccurrences(of: ":", with: " ")
            let details = audit.details.sorted { $0.key < $1.key }.filter { !$0.value.isEmpty }.map { "\($0.key)=\($0.value)" }
            var summary = "\(audit.actor): \(audit.action) \(target)"
            if let reason = audit.reason { summary += " — \(fields.redact(reason))" }
            if !details.isEmpty { summary += " (\(details.joined(separator: ", ")))" }
            entries.append(
                Entry(
                    at: audit.at, kind: audit.action == "dlq.replay" ? .replay : .support, connector: "support", summary: summary,
                    support: .init(
                        auditID: audit.id, actor: audit.actor, action: audit.action, target: audit.target,
                        reason: audit.reason.map(fields.redact), details: audit.details)))
        }

        mutating func link(_ link: DealHistory.Link) {
            entries.append(
                Entry(
                    at: link.createdAt, kind: .linkMade, connector: link.connector, recordID: link.recordID, lineageID: nil,
                    summary:
                        "link made: \(record(link.connector, link.recordID)) ↔ MasterDeal deal \(link.masterDealID ?? "(being created)")"))
            if link.state != "active" {
                entries.append(
                    Entry(
                        at: link.updatedAt, kind: .linkEnded, connector: link.connector, recordID: link.recordID,
                        lineageID: link.lastLineageID,
                        summary:
                            "link ended (\(link.state)): \(record(link.connector, link.recordID)) ↔ MasterDeal deal \(link.masterDealID ?? "-")"
                    ))
            }
        }

        // MARK: Field state

        mutating func fieldsNow(_ states: [DealHistory.FieldStateRow]) -> [DealTimeline.FieldNow] {
            states.compactMap { row -> DealTimeline.FieldNow? in
                guard keeps(row.field) else { return nil }
                let state = row.state
                return DealTimeline.FieldNow(
                    connector: links[row.linkID]?.connector ?? "-", field: row.field,
                    decided: state.decided.map { fields.show($0, field: row.field) }, decidedBy: state.decidedBy?.rawValue,
                    decidedAt: state.decidedAt?.description,
                    master: state.master.known.map { fields.show($0, field: row.field) },
                    crm: state.crm.known.map { fields.show($0, field: row.field) },
                    pendingMaster: state.master.pending.count, pendingCRM: state.crm.pending.count)
            }
        }
    }
}
