import Foundation

extension ConnectorConfig.Poll {
    /// Where a connector that has no poll cursor yet starts reading (`poll.start`).
    ///
    /// A stored cursor always wins: the start matters only for the very first poll, which stores it as the
    /// cursor. Webhooks are not affected; they bring every change made after the start.
    public enum Start: Sendable, Equatable {
        /// The time of the first poll (less the overlap): an account's history is left alone, so old records
        /// never look like new changes. The default.
        case now
        /// Everything the account holds, oldest first.
        case beginning
        /// Changes at or after this instant, in unix milliseconds (`2026-01-01` is midnight UTC).
        case since(millis: Int64)
    }

    /// The instant the first poll reads from, in unix milliseconds; `nil` reads from the beginning.
    ///
    /// `now` starts an overlap before the moment itself, as every later poll re-reads an overlap before its
    /// watermark, so a change made while the connector starts (or a CRM clock a little behind) is not skipped.
    public func firstInstant(now: Date) -> Int64? {
        switch start {
        case .now:
            let (seconds, attoseconds) = overlap.components
            let overlapMillis = seconds * 1000 + attoseconds / 1_000_000_000_000_000
            return Int64((now.timeIntervalSince1970 * 1000).rounded(.down)) - overlapMillis
        case .beginning:
            return nil
        case .since(let millis):
            return millis
        }
    }
}

extension ConnectorConfig.Poll.Start: CustomStringConvertible {
    /// How `dealsync validate` describes it.
    public var description: String {
        switch self {
        case .now: "from its first poll's time (poll.start: now); older records are left alone"
        case .beginning: "from the beginning of the account's history (poll.start: beginning)"
        case .since(let millis): "from \(Timestamp.iso8601(millis: millis)) (poll.start)"
        }
    }

    /// Reads `now`, `beginning`, a date (`2026-01-01`, midnight UTC) or an instant with its offset
    /// (`2026-01-01T09:00:00+03:00`).
    static func parse(_ text: String) -> Self? {
        switch text {
        case "now": return .now
        case "beginning": return .beginning
        default: break
        }
        if text.utf8.count == 10, let millis = Timestamp.parseMillis(text + "T00:00:00Z") { return .since(millis: millis) }
        return Timestamp.parseMillis(text).map { .since(millis: $0) }
    }
}
