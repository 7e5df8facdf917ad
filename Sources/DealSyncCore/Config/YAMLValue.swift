import Foundation
import Yams

/// A YAML node with the position it came from, after `${ENV}` substitution.
///
/// Configuration is read through this tree rather than `Codable` so that every problem can be reported with
/// its `file:line:column`, unknown keys can be caught, and all problems of a file can be reported in one run.
struct YAMLValue {
    enum Content {
        case scalar(String, plain: Bool)
        case mapping([(key: YAMLValue, value: YAMLValue)])
        case sequence([YAMLValue])
    }

    var content: Content
    var location: SourceLocation
    /// True when the scalar came (partly) from an environment variable: its text must never be printed.
    var isSubstituted: Bool = false
    /// True when an environment reference could not be resolved (already reported): readers skip the value.
    var isUnresolved: Bool = false

    var kindName: String {
        switch content {
        case .scalar(_, let plain): plain && isNullText ? "null" : "a scalar"
        case .mapping: "a mapping"
        case .sequence: "a sequence"
        }
    }

    var isNull: Bool {
        if case .scalar(_, true) = content { return isNullText }
        return false
    }

    private var isNullText: Bool {
        guard case .scalar(let text, _) = content else { return false }
        return text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL"
    }

    /// Text of a scalar for use in a message; substituted values are never shown.
    var quotedForMessage: String {
        guard case .scalar(let text, _) = content else { return kindName }
        if isSubstituted { return "a value from the environment" }
        let shown = text.count > 40 ? String(text.prefix(40)) + "…" : text
        return "\"\(shown)\""
    }
}

/// Parses YAML text into ``YAMLValue`` trees, substituting `${NAME}` and `${NAME:-default}` from the environment.
struct YAMLParser {
    var file: String
    var environment: [String: String]
    var sink: DiagnosticSink

    /// Parses one document. Syntax errors, and a document over the ``YAMLBudget`` (aliases, size, nodes, depth),
    /// are reported with their position and yield `nil`; the budget is checked before Yams builds anything.
    func parse(_ text: String) -> YAMLValue? {
        if let breach = YAMLBudget(file: file).check(text) {
            sink.report(breach.location, breach.message)
            return nil
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            report(error)
            return nil
        } catch {
            sink.report(SourceLocation(file: file, line: 1, column: 1), "cannot read YAML")
            return nil
        }
        guard let node else {
            sink.report(SourceLocation(file: file, line: 1, column: 1), "the file is empty")
            return nil
        }
        return convert(node)
    }

    private func report(_ error: YamlError) {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            var message = "YAML syntax error: \(problem)"
            if let context {
                message += " (\(context.text) started at line \(context.mark.line), column \(context.mark.column))"
            }
            sink.report(location(mark), message)
        case .reader(let problem, _, _, _):
            sink.report(SourceLocation(file: file, line: 1, column: 1), "cannot read the file as UTF-8 text: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            sink.report(location(context.mark), "duplicate key \(duplicates.map { "'\($0)'" }.joined(separator: ", "))")
        default:
            sink.report(SourceLocation(file: file, line: 1, column: 1), "cannot read YAML")
        }
    }

    private func location(_ mark: Mark?) -> SourceLocation {
        SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    private func convert(_ node: Node) -> YAMLValue? {
        switch node {
        case .scalar(let scalar):
            let loc = location(scalar.mark)
            let plain = scalar.style == .plain || scalar.style == .any
            let (text, substituted) = substitute(scalar.string, at: loc)
            // A failed substitution keeps the reference text, so the key still counts as given (one error, not two).
            var value = YAMLValue(content: .scalar(text ?? scalar.string, plain: plain && !substituted), location: loc)
            value.isSubstituted = substituted || text == nil
            value.isUnresolved = text == nil
            return value
        case .mapping(let mapping):
            var pairs: [(key: YAMLValue, value: YAMLValue)] = []
            var seen: [String: SourceLocation] = [:]
            for (key, value) in mapping {
                guard let k = convert(key), let v = convert(value) else { continue }
                if case .scalar(let name, _) = k.content {
                    if let first = seen[name] {
                        sink.report(k.location, "duplicate key '\(name)' (first at line \(first.line))")
                        continue
                    }
                    seen[name] = k.location
                }
                pairs.append((k, v))
            }
            return YAMLValue(content: .mapping(pairs), location: location(mapping.mark))
        case .sequence(let sequence):
            return YAMLValue(content: .sequence(sequence.compactMap(convert)), location: location(sequence.mark))
        case .alias(let alias):
            sink.report(location(alias.mark), "YAML aliases are not supported in dealsync configuration")
            return nil
        }
    }

    /// Replaces `${NAME}` / `${NAME:-default}`; `$$` stands for a literal `$`.
    /// Returns `nil` text when a reference could not be resolved (already reported).
    private func substitute(_ text: String, at loc: SourceLocation) -> (String?, Bool) {
        guard text.contains("$") else { return (text, false) }
        var result = ""
        var substituted = false
        var failed = false
        var index = text.startIndex
        while index < text.endIndex {
            let char = text[index]
            let next = text.index(after: index)
            if char == "$", next < text.endIndex, text[next] == "$" {
                result.append("$")
                index = text.index(after: next)
                continue
            }
            if char == "$", next < text.endIndex, text[next] == "{",
                let close = text[next...].firstIndex(of: "}")
            {
                let body = String(text[text.index(after: next)..<close])
                let (name, fallback) = splitDefault(body)
                let column = loc.column + text.distance(from: text.startIndex, to: index)
                let varLoc = SourceLocation(file: loc.file, line: loc.line, column: column)
                if !isValidVariableName(name) {
                    sink.report(varLoc, "'${\(body)}' is not a valid environment reference (use ${NAME} or ${NAME:-default})")
                    failed = true
                } else if let value = environment[name], !value.isEmpty {
                    result += value
                    substituted = true
                } else if let fallback {
                    result += fallback
                } else {
                    sink.report(varLoc, "environment variable \(name) is not set")
                    failed = true
                }
                index = text.index(after: close)
                continue
            }
            result.append(char)
            index = next
        }
        return (failed ? nil : result, substituted)
    }

    private func splitDefault(_ body: String) -> (String, String?) {
        guard let range = body.range(of: ":-") else { return (body, nil) }
        return (String(body[..<range.lowerBound]), String(body[range.upperBound...]))
    }

    private func isValidVariableName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || first.isASCIILetter else {
            return false
        }
        return name.unicodeScalars.allSatisfy { $0 == "_" || $0.isASCIILetter || ("0"..."9").contains($0) }
    }
}

extension Unicode.Scalar {
    var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
}
