import DealSyncCore
import Foundation

/// A plain text table for terminal output: a header, aligned columns, no truncation of the last column.
struct Table {
    var headers: [String]
    var rows: [[String]] = []

    init(_ headers: String...) { self.headers = headers }

    mutating func add(_ cells: String...) { rows.append(cells) }

    func render() -> String {
        guard !rows.isEmpty else { return "(none)" }
        var widths = headers.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count - 1 {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return ([line(headers)] + rows.map(line)).joined(separator: "\n")
    }
}

/// JSON output for scripts: sorted keys, ISO-8601 dates.
enum JSONOutput {
    static func print<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        Swift.print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}

/// Exit statuses the support commands promise.
enum ExitStatus {
    /// Nothing matched the ids or filters.
    static let notFound: Int32 = 3
    /// Some of the requested items were done, some refused.
    static let partial: Int32 = 4
}

/// Who runs a support command: `--actor`, else the OS user.
enum Actor {
    static func resolve(_ given: String?) -> String {
        if let given, !given.isEmpty { return given }
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return ProcessInfo.processInfo.environment["USER"] ?? "unknown"
    }
}

/// `--since 2h`, `--since 30m`, `--since 2026-11-20T10:00:00Z`.
enum SinceParser {
    static func parse(_ text: String) -> Date? {
        if let millis = TimestampParsing.millis(text) { return Date(timeIntervalSince1970: Double(millis) / 1000) }
        let units: [(String, Double)] = [("m", 60), ("h", 3600), ("d", 86_400), ("s", 1)]
        for (suffix, seconds) in units where text.hasSuffix(suffix) {
            if let count = Double(text.dropLast()) { return Date().addingTimeInterval(-count * seconds) }
        }
        return nil
    }
}

enum TimestampParsing {
    static func millis(_ text: String) -> Int64? { Timestamp.parseMillis(text) }
}
