import DealSyncCore
import Foundation

/// JSON for jsonb columns: sorted keys so equal values store equal text.
enum StoreJSON {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }

    /// A stored object of strings (an inbox row's headers), read as `decode([String: String].self, from:)` reads it
    /// but without the coders (a lane reads one for every row it claims); `nil` where that throws.
    static func strings(from text: String) -> [String: String]? {
        guard case .object(let members)? = JSONText.parse(text) else { return nil }
        var strings: [String: String] = [:]
        strings.reserveCapacity(members.count)
        for (key, value) in members {
            guard case .string(let string) = value else { return nil }
            strings[key] = string
        }
        return strings
    }
}
