import Foundation

/// Loads `connectors/*.yaml` and `mappings/*.yaml`, checks each file and the files against each other, and
/// reports every problem at once.
public struct ConfigurationLoader: Sendable {
    /// Variables for `${NAME}` substitution.
    public var environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// A configuration file's path (as it should be printed) and its text.
    public struct File: Sendable {
        public var path: String
        public var text: String

        public init(path: String, text: String) {
            self.path = path
            self.text = text
        }
    }

    /// Loads the configuration below `directory` (which holds `connectors/` and `mappings/`).
    public func load(directory: String) throws(ConfigurationError) -> Configuration {
        var problems: [Diagnostic] = []
        let connectorFiles = Self.files(in: directory, subdirectory: "connectors", problems: &problems)
        let mappingFiles = Self.files(in: directory, subdirectory: "mappings", problems: &problems)
        let result = Result { () throws(ConfigurationError) in try load(connectors: connectorFiles, mappings: mappingFiles) }
        switch result {
        case .success(let configuration) where problems.isEmpty:
            return configuration
        case .success:
            throw ConfigurationError(problems)
        case .failure(let error):
            throw ConfigurationError(problems + error.diagnostics)
        }
    }

    /// Loads configuration from texts already in memory.
    public func load(connectors: [File], mappings: [File]) throws(ConfigurationError) -> Configuration {
        let sink = DiagnosticSink()
        var mappingsByName: [String: Mapping] = [:]
        for file in mappings {
            let parser = YAMLParser(file: file.path, environment: environment, sink: sink)
            guard let root = parser.parse(file.text),
                let mapping = MappingReader(file: file.path, sink: sink).read(root)
            else { continue }
            if let existing = mappingsByName[mapping.name] {
                sink.report(mapping.location(of: "name"), "mapping '\(mapping.name)' is already defined in \(existing.file)")
                continue
            }
            mappingsByName[mapping.name] = mapping
        }
        var connectorList: [ConnectorConfig] = []
        for file in connectors {
            let parser = YAMLParser(file: file.path, environment: environment, sink: sink)
            guard let root = parser.parse(file.text),
                let connector = ConnectorConfigReader(file: file.path, sink: sink).read(root)
            else { continue }
            if let existing = connectorList.first(where: { $0.id == connector.id }) {
                sink.report(connector.location(of: "id"), "connector id '\(connector.id)' is already used in \(existing.file)")
                continue
            }
            connectorList.append(connector)
        }
        let configuration = Configuration(connectors: connectorList, mappings: mappingsByName)
        ConfigurationValidator(sink: sink).check(configuration, connectorFiles: connectors.map(\.path))
        guard sink.isEmpty else { throw ConfigurationError(sink.diagnostics) }
        return configuration
    }

    static func files(in directory: String, subdirectory: String, problems: inout [Diagnostic]) -> [File] {
        let base = directory == "." || directory.isEmpty ? subdirectory : "\(directory)/\(subdirectory)"
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: base, isDirectory: &isDirectory), isDirectory.boolValue else {
            problems.append(Diagnostic(SourceLocation(file: base, line: 1, column: 1), "directory not found"))
            return []
        }
        let names = ((try? fm.contentsOfDirectory(atPath: base)) ?? [])
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
            .sorted()
        return names.compactMap { name in
            let path = "\(base)/\(name)"
            // A file over the budget is refused on its size, before it is read into memory.
            if let size = (try? fm.attributesOfItem(atPath: path))?[.size] as? Int, size > YAMLBudget.maxBytes {
                problems.append(YAMLBudget.tooLarge(file: path, bytes: size))
                return nil
            }
            guard let data = fm.contents(atPath: path) else {
                problems.append(Diagnostic(SourceLocation(file: path, line: 1, column: 1), "cannot read the file"))
                return nil
            }
            guard let text = String(data: data, encoding: .utf8) else {
                problems.append(Diagnostic(SourceLocation(file: path, line: 1, column: 1), "the file is not UTF-8 text"))
                return nil
            }
            return File(path: path, text: text)
        }
    }
}
