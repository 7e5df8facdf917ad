import DealSyncCore
import Foundation

extension DealTimeline {
    /// The timeline for people: the deal and its records, the fields as decided now, then every entry in time
    /// order. The short form (the demo's) leaves out the fields and the delivery attempts and cuts long lines.
    public func text(short: Bool = false) -> String {
        var lines = ["deal \(masterDealID ?? "(none yet)")"]
        for record in records {
            let ended = record.endedAt.map { ", ended \(Self.time($0))" } ?? ""
            lines.append(
                "  \(record.connector) record \(record.recordID ?? "(being created)"): \(record.state), linked \(Self.time(record.linkedAt))\(ended)"
            )
        }
        if !short {
            lines.append("")
            lines.append("fields now")
            var table: [[String]] = [["CONNECTOR", "FIELD", "DECIDED", "BY", "AT", "MASTERDEAL", "CRM", "WAITING"]]
            for field in fields {
                table.append([
                    field.connector, field.field, field.decided ?? "-", field.decidedBy ?? "-", field.decidedAt ?? "-",
                    field.master ?? "-", field.crm ?? "-", "master \(field.pendingMaster), crm \(field.pendingCRM)",
                ])
            }
            lines += fields.isEmpty ? ["  (none)"] : Self.render(table).map { "  " + $0 }
        }
        let shown = short ? entries.filter { $0.kind != .attempt } : entries
        lines.append("")
        lines.append("timeline (\(shown.count) entries)")
        var table: [[String]] = short ? [["TIME", "KIND", "WHAT"]] : [["TIME", "KIND", "SYSTEM", "LINEAGE", "WHAT"]]
        for entry in shown {
            if short {
                let summary = entry.summary.count > 120 ? entry.summary.prefix(119) + "…" : entry.summary
                table.append([Self.clock(entry.at), entry.kind.rawValue, summary])
            } else {
                table.append([
                    Self.time(entry.at), entry.kind.rawValue, entry.connector,
                    entry.lineageID.map { String($0.uuidString.lowercased().prefix(8)) } ?? "-", entry.summary,
                ])
            }
        }
        lines += shown.isEmpty ? ["  (none)"] : Self.render(table).map { "  " + $0 }
        for note in notes { lines.append("note: \(note)") }
        return lines.joined(separator: "\n")
    }

    static func time(_ date: Date) -> String { Timestamp.iso8601(millis: Int64((date.timeIntervalSince1970 * 1000).rounded())) }

    /// `HH:mm:ss.SSS` in UTC, for the short form.
    static func clock(_ date: Date) -> String {
        let text = time(date)
        guard let t = text.firstIndex(of: "T") else { return text }
        return String(text[text.index(after: t)...].prefix(12))
    }

    /// Aligned columns; the last one is never padded or cut.
    static func render(_ rows: [[String]]) -> [String] {
        var widths = rows[0].map { _ in 0 }
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count - 1 { widths[index] = max(widths[index], cell.count) }
        }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
    }
}
