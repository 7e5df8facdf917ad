import DealSyncCore
import Foundation

/// The texts of a configuration directory's `connectors/*.yaml` and `mappings/*.yaml`, to tell what a reload changes.
public struct ConfigurationFiles: Sendable, Equatable {
    /// Path relative to the configuration directory (`mappings/tour.yaml`) → text.
    public var texts: [String: String]

    public init(texts: [String: String]) {
        self.texts = texts
    }

    /// Reads the files as they are now; an unreadable file counts with empty text (the load reports it).
    public static func read(directory: String) -> ConfigurationFiles {
        var texts: [String: String] = [:]
        for subdirectory in ["connectors", "mappings"] {
            let path = "\(directory)/\(subdirectory)"
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            for name in names where name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
                texts["\(subdirectory)/\(name)"] = (try? String(contentsOfFile: "\(path)/\(name)", encoding: .utf8)) ?? ""
            }
        }
        return ConfigurationFiles(texts: texts)
    }

    /// One file that differs between two readings.
    public struct Change: Sendable, Equatable, CustomStringConvertible {
        public enum Kind: String, Sendable {
            case added, removed, changed
        }

        public var path: String
        public var kind: Kind

        public var description: String { "\(path) (\(kind.rawValue))" }
        public var isConnector: Bool { path.hasPrefix("connectors/") }

        /// Whether this is the file `config` was read from (its path is relative; the config's may be absolute).
        public func concerns(_ config: ConnectorConfig) -> Bool {
            isConnector && (config.file == path || config.file.hasSuffix("/" + path))
        }
    }

    /// What differs in `next`, by path.
    public func changes(to next: ConfigurationFiles) -> [Change] {
        let paths = Set(texts.keys).union(next.texts.keys).sorted()
        return paths.compactMap { path in
            switch (texts[path], next.texts[path]) {
            case (nil, _?): Change(path: path, kind: .added)
            case (_?, nil): Change(path: path, kind: .removed)
            case (let old?, let new?) where old != new: Change(path: path, kind: .changed)
            default: nil
            }
        }
    }
}
