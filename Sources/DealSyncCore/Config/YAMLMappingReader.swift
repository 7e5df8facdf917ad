import Foundation

/// Reads the keys of one YAML mapping with typed accessors, reporting problems with their positions.
///
/// Every accessor marks its key as known; ``finish()`` then reports each key nobody asked for, so a typo in a
/// key is an error instead of a setting that silently does nothing.
final class YAMLMappingReader {
    let value: YAMLValue
    let path: String
    let sink: DiagnosticSink
    private var pairs: [(key: YAMLValue, value: YAMLValue)] = []
    private var known: [String] = []

    /// Returns `nil` (after reporting) when `value` is not a mapping.
    init?(_ value: YAMLValue, path: String, sink: DiagnosticSink) {
        self.value = value
        self.path = path
        self.sink = sink
        guard case .mapping(let pairs) = value.content else {
            sink.report(value.location, "\(path.isEmpty ? "document" : path): expected a mapping, found \(value.kindName)")
            return nil
        }
        self.pairs = pairs
    }

    var location: SourceLocation { value.location }

    /// Keys in document order.
    var keys: [(name: String, location: SourceLocation)] {
        pairs.compactMap { pair in
            guard case .scalar(let name, _) = pair.key.content else { return nil }
            return (name, pair.key.location)
        }
    }

    func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The raw node under `key`, marking the key as known.
    func node(_ key: String) -> YAMLValue? {
        known.append(key)
        return pairs.first { pair in
            if case .scalar(let name, _) = pair.key.content { return name == key }
            return false
        }?.value
    }

    /// The node under `key`, reporting when it is missing.
    func requiredNode(_ key: String) -> YAMLValue? {
        guard let node = node(key), !node.isNull else {
            sink.report(location, "\(path.isEmpty ? "document" : path): missing required key '\(key)'")
            return nil
        }
        return node
    }

    /// Reports every key that no accessor asked for.
    func finish() {
        for pair in pairs {
            guard case .scalar(let name, _) = pair.key.content else {
                sink.report(pair.key.location, "\(path): keys must be plain names")
                continue
            }
            if !known.contains(name) {
                var message = "unknown key '\(name)'" + (path.isEmpty ? "" : " in \(path)")
                if let suggestion = Self.closest(to: name, in: Set(known)) {
                    message += " (did you mean '\(suggestion)'?)"
                } else if !known.isEmpty {
                    message += " (expected one of: \(Array(Set(known)).sorted().joined(separator: ", ")))"
                }
                sink.report(pair.key.location, message)
            }
        }
    }

    // MARK: Typed scalars

    func string(_ key: String, required: Bool = true) -> String? {
        guard let node = required ? requiredNode(key) : node(key), !node.isNull else { return nil }
        return YAMLScalar.string(node, path: keyPath(key), sink: sink)
    }

    func secret(_ key: String, required: Bool = true) -> Secret? {
        string(key, required: required).map(Secret.init)
    }

    func int(_ key: String, required: Bool = true, range: ClosedRange<Int>? = nil) -> Int? {
        guard let node = required ? requiredNode(key) : node(key), !node.isNull else { return nil }
        return YAMLScalar.int(node, path: keyPath(key), sink: sink, range: range)
    }

    func double(_ key: String, required: Bool = true, minimum: Double? = nil) -> Double? {
        guard let node = required ? requiredNode(key) : node(key), !node.isNull else { return nil }
        return YAMLScalar.double(node, path: keyPath(key), sink: sink, minimum: minimum)
    }

    func bool(_ key: String, required: Bool = true) -> Bool? {
        guard let node = required ? requiredNode(key) : node(key), !node.isNull else { return nil }
        return YAMLScalar.bool(node, path: keyPath(key), sink: sink)
    }

    func duration(_ key: String, required: Bool = true) -> Duration? {
        guard let node = required ? requiredNode(key) : node(key), !node.isNull else { return nil }
        return YAMLScalar.duration(node, path: keyPath(key), sink: sink)
    }

    func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ type: T.Type, required: Bool = true) -> T?
    where T.RawValue == String {
        guard let node = required ? requiredNode(key) : node(key), !node.isNull else { return nil }
        return YAMLScalar.choice(node, type, path: keyPath(key), sink: sink)
    }

    func mapping(_ key: String, required: Bool = true) -> YAMLMappingReader? {
        guard let node = required ? requiredNode(key) : node(key), !node.isNull else { return nil }
        return YAMLMappingReader(node, path: keyPath(key), sink: sink)
    }

    func sequence(_ key: String, required: Bool = true) -> [YAMLValue]? {
        guard let node = required ? requiredNode(key) : node(key), !node.isNull else { return nil }
        guard case .sequence(let items) = node.content else {
            sink.report(node.location, "\(keyPath(key)): expected a list, found \(node.kindName)")
            return nil
        }
        return items
    }

    /// Levenshtein-closest known key within distance 2, for "did you mean" hints.
    static func closest(to name: String, in candidates: Set<String>) -> String? {
        var best: (String, Int)?
        for candidate in candidates {
            let distance = editDistance(Array(name), Array(candidate))
            if distance <= 2, distance < (best?.1 ?? .max) { best = (candidate, distance) }
        }
        return best?.0
    }

    private static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}

/// Typed readers for single scalars.
enum YAMLScalar {
    static func string(_ node: YAMLValue, path: String, sink: DiagnosticSink) -> String? {
        if node.isUnresolved { return nil }
        guard case .scalar(let text, _) = node.content else {
            sink.report(node.location, "\(path): expected a string, found \(node.kindName)")
            return nil
        }
        return text
    }

    static func int(_ node: YAMLValue, path: String, sink: DiagnosticSink, range: ClosedRange<Int>? = nil) -> Int? {
        if node.isUnresolved { return nil }
        guard case .scalar(let text, _) = node.content, let value = Int(text) else {
            sink.report(node.location, "\(path): expected an integer, found \(node.quotedForMessage)")
            return nil
        }
        if let range, !range.contains(value) {
            sink.report(node.location, "\(path): must be between \(range.lowerBound) and \(range.upperBound), found \(value)")
            return nil
        }
        return value
    }

    static func double(_ node: YAMLValue, path: String, sink: DiagnosticSink, minimum: Double? = nil) -> Double? {
        if node.isUnresolved { return nil }
        guard case .scalar(let text, _) = node.content, let value = Double(text), value.isFinite else {
            sink.report(node.location, "\(path): expected a number, found \(node.quotedForMessage)")
            return nil
        }
        if let minimum, value < minimum {
            sink.report(node.location, "\(path): must be at least \(minimum), found \(text)")
            return nil
        }
        return value
    }

    static func bool(_ node: YAMLValue, path: String, sink: DiagnosticSink) -> Bool? {
        if node.isUnresolved { return nil }
        guard case .scalar(let text, _) = node.content, text == "true" || text == "false" else {
            sink.report(node.location, "\(path): expected true or false, found \(node.quotedForMessage)")
            return nil
        }
        return text == "true"
    }

    /// Durations are written `500ms`, `30s`, `5m`, `2h` or `1d`.
    static func duration(_ node: YAMLValue, path: String, sink: DiagnosticSink) -> Duration? {
        if node.isUnresolved { return nil }
        guard case .scalar(let text, _) = node.content, let value = parseDuration(text) else {
            sink.report(node.location, "\(path): expected a duration such as 500ms, 30s, 5m, 2h or 1d, found \(node.quotedForMessage)")
            return nil
        }
        return value
    }

    static func parseDuration(_ text: String) -> Duration? {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for (suffix, millis) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            guard let count = Int64(number), count >= 0 else { continue }
            return .milliseconds(count * millis)
        }
        return nil
    }

    static func choice<T: RawRepresentable & CaseIterable>(
        _ node: YAMLValue, _ type: T.Type, path: String, sink: DiagnosticSink
    ) -> T? where T.RawValue == String {
        if node.isUnresolved { return nil }
        guard case .scalar(let text, _) = node.content, let value = T(rawValue: text) else {
            let options = T.allCases.map(\.rawValue).joined(separator: ", ")
            sink.report(node.location, "\(path): expected one of \(options), found \(node.quotedForMessage)")
            return nil
        }
        return value
    }
}
