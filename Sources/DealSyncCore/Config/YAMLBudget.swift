// libyaml's event parser, the one Yams composes with (its `CYaml` module, part of the Yams package already
// depended on): reading events builds nothing, so a budget can be checked before any tree exists.
import CYaml

/// The limits a configuration file must keep before the YAML library builds a tree from it.
///
/// Yams resolves an alias by reusing the anchored node, so a few kilobytes of nested aliases describe a tree
/// of billions of nodes, which composing (its duplicate-key check hashes aliased keys) and converting then
/// walk in full. dealsync configuration has no use for aliases: the first one is refused, with its
/// position, while the file is still a stream of events, as is a file too large or too deep. One pass, linear
/// in the text, whatever it holds.
struct YAMLBudget {
    /// A mapping with 10,000 owners and every field is about 1 MiB.
    static let maxBytes = 2 << 20
    /// Scalars, sequences and mappings together (a 10,000-owner directory is about 90,000).
    static let maxNodes = 150_000
    static let maxDepth = 32

    let file: String

    /// The first limit `text` breaks, as a diagnostic at the place it happened; `nil` when it keeps them all or
    /// is not even YAML (the composer then reports the syntax error as usual).
    func check(_ text: String) -> Diagnostic? {
        let size = text.utf8.count
        if size > Self.maxBytes { return Self.tooLarge(file: file, bytes: size) }
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBufferPointer { buffer in scan(buffer) }
    }

    static func tooLarge(file: String, bytes: Int) -> Diagnostic {
        Diagnostic(
            SourceLocation(file: file, line: 1, column: 1),
            "the file is \(bytes) bytes; a configuration file may have at most \(maxBytes) (\(maxBytes >> 20) MiB)")
    }

    private func scan(_ buffer: UnsafeMutableBufferPointer<UInt8>) -> Diagnostic? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return nil }
        defer { yaml_parser_delete(&parser) }
        yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
        yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
        var nodes = 0
        var depth = 0
        var event = yaml_event_t()
        while yaml_parser_parse(&parser, &event) == 1 {
            defer { yaml_event_delete(&event) }
            let location = SourceLocation(file: file, line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return nil
            case YAML_ALIAS_EVENT:
                let name = event.data.alias.anchor.map { String(cString: $0) } ?? ""
                return Diagnostic(
                    location, "YAML alias '*\(name.prefix(40))': aliases are not supported in dealsync configuration (write the value out)")
            case YAML_SCALAR_EVENT, YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                nodes += 1
                if nodes > Self.maxNodes {
                    return Diagnostic(location, "more than \(Self.maxNodes) YAML nodes: a configuration file may have at most that many")
                }
                if event.type != YAML_SCALAR_EVENT {
                    depth += 1
                    if depth > Self.maxDepth {
                        return Diagnostic(
                            location, "nested deeper than \(Self.maxDepth) levels: a configuration file may nest at most that deep")
                    }
                }
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                depth -= 1
            default:
                break
            }
        }
        return nil
    }
}
