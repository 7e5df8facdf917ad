import Foundation

/// Runs `contracts/check.py` of this repository, waited for without blocking a cooperative thread (never
/// skipped: a missing Python module exits 2 and fails the test).
public enum ContractCheck {
    /// The repository's `contracts/` directory.
    public static let contracts = Repository.root(from: #filePath) + "/contracts"

    /// Exit status and combined output.
    public static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        let result = try await ChildProgram.run(
            "/usr/bin/env", ["python3", contracts + "/check.py"] + arguments, environment: environment)
        return (result.status, result.stdout + result.stderr)
    }

    /// `check.py openapi masterdeal.openapi.yaml COMPONENT files…`
    public static func openAPI(_ component: String, _ files: [String]) async throws -> (status: Int32, output: String) {
        try await run(["openapi", contracts + "/masterdeal.openapi.yaml", component] + files)
    }

    /// `check.py events contracts/events bodies…`: each event body (written to a temporary file) against the
    /// schema of its type.
    public static func events(_ bodies: [Data]) async throws -> (status: Int32, output: String) {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var files: [String] = []
        for (index, body) in bodies.enumerated() { files.append(try write(body, name: "event-\(index).json", in: directory)) }
        return try await run(["events", contracts + "/events"] + files)
    }

    /// Writes `data` to a file `name` in `directory` and answers its path.
    public static func write(_ data: Data, name: String, in directory: URL) throws -> String {
        let url = directory.appendingPathComponent(name)
        try data.write(to: url)
        return url.path
    }

    /// A fresh temporary directory for captured instances.
    public static func makeTemporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("contract-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
