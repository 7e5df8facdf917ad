import ArgumentParser
import DealSyncCore
import Foundation

/// Where the configuration is: a directory holding `connectors/` and `mappings/`.
struct ConfigOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: "Directory holding connectors/ and mappings/.")
    var directory: String = "."

    @Option(
        help:
            "A KEY=value file filling ${KEY} references (default: <config>/dealsync.env when it exists). Variables already set in the environment win."
    )
    var envFile: String?

    /// The process environment over the environment file.
    func environment() throws -> [String: String] {
        var values: [String: String] = [:]
        let path = envFile ?? (directory == "." ? "dealsync.env" : "\(directory)/dealsync.env")
        if FileManager.default.fileExists(atPath: path) {
            // Read through a handle: special files such as /dev/null (no environment file) have no size to trust.
            guard let handle = FileHandle(forReadingAtPath: path), let data = try? handle.readToEnd() ?? Data(),
                let text = String(data: data, encoding: .utf8)
            else {
                throw CLIError("cannot read \(path) as UTF-8 text")
            }
            try? handle.close()
            values = EnvironmentFile.parse(text)
        } else if envFile != nil {
            throw CLIError("\(path): file not found")
        }
        values.merge(ProcessInfo.processInfo.environment) { _, process in process }
        return values
    }

    func load() throws -> Configuration {
        try ConfigurationLoader(environment: environment()).load(directory: directory)
    }

    /// Loads, or prints every problem and exits 1.
    func loadOrExit() throws -> Configuration {
        do {
            return try load()
        } catch let error as ConfigurationError {
            for diagnostic in error.diagnostics { FileHandle.standardError.write(Data("\(diagnostic)\n".utf8)) }
            throw ExitCode.failure
        }
    }
}

/// A message for the user; printed as `dealsync: <message>` with exit status 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
