import DealSyncCore
import Foundation
import Logging
import Synchronization

/// One JSON object per line on standard error: `{"ts","level","label","msg", ...metadata}`.
///
/// Messages are constant and data lives in metadata (lineage ids, connector ids, counts); nothing in dealsync
/// puts a token or a payload there.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    /// Adds metadata of the task's context to each line (the trace and span ids, when tracing is on).
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    private static let lock = Mutex(())

    public init(label: String, level: Logger.Level = .info, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.logLevel = level
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var object: [String: Any] = [
            "ts": Self.timestamp(), "level": event.level.rawValue, "label": label, "msg": "\(event.message)",
        ]
        var merged = metadataProvider?.get() ?? [:]
        merged.merge(metadata) { $1 }
        for (key, value) in merged.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            object[key] = Self.plain(value)
        }
        guard var line = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return
        }
        line.append(0x0A)
        Self.lock.withLock { _ in FileHandle.standardError.write(line) }
    }

    static func plain(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let s): s
        case .stringConvertible(let c): c.description
        case .array(let a): a.map(plain)
        case .dictionary(let d): d.mapValues(plain)
        }
    }

    static func timestamp() -> String {
        let now = Date().timeIntervalSince1970
        return DealSyncCoreTimestamp.iso(millis: Int64(now * 1000))
    }
}

enum DealSyncCoreTimestamp {
    static func iso(millis: Int64) -> String { Timestamp.iso8601(millis: millis) }
}
