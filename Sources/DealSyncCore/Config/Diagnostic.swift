/// A place in a configuration file, 1-based like compilers print it.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// One problem found in configuration, printed as `file:line:column: message`.
///
/// Messages never contain the value of a secret: they name keys, variables and expectations only.
public struct Diagnostic: Error, Sendable, Hashable, CustomStringConvertible {
    public var location: SourceLocation
    public var message: String

    public init(_ location: SourceLocation, _ message: String) {
        self.location = location
        self.message = message
    }

    public var description: String { "\(location): \(message)" }
}

/// Every problem found in a set of configuration files, in file and line order.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public init(_ diagnostics: [Diagnostic]) {
        self.diagnostics = diagnostics.sorted {
            ($0.location.file, $0.location.line, $0.location.column) < ($1.location.file, $1.location.line, $1.location.column)
        }
    }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// Collects diagnostics while a file is read, so that one run reports every problem.
final class DiagnosticSink {
    private(set) var diagnostics: [Diagnostic] = []

    func report(_ location: SourceLocation, _ message: String) {
        diagnostics.append(Diagnostic(location, message))
    }

    var isEmpty: Bool { diagnostics.isEmpty }
}
