import ArgumentParser
import DealSyncCore
import DealSyncStore
import Foundation

struct ReloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Make the running dealsync serve of a configuration re-read connectors/ and mappings/ (sends it SIGHUP).",
        discussion: """
            The serve process validates the files as `dealsync validate` does and applies them only when all is valid; \
            otherwise it keeps running as it was and logs every problem. Either way the reload is in its log, the audit \
            log and dealsync_config_reloads_total. This command also prints the problems it finds itself.
            """)

    @OptionGroup var config: ConfigOptions

    @Option(help: "The data directory of the embedded default, where serve records its pid (default: <config>/.dealsync).")
    var dataDir: String?

    @Option(help: "The pid file of a serve started with --pid-file (serve on an external database).")
    var pidFile: String?

    func run() throws {
        let pid: pid_t
        if let pidFile {
            guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
                let value = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
            else { throw CLIError("\(pidFile): no pid in it; is dealsync serve --pid-file \(pidFile) running?") }
            pid = value
        } else {
            let directory = DataDirectory(path: dataDir ?? DataDirectory.defaultPath(configDirectory: config.directory))
            guard let holder = directory.holder(), holder.role == .serve else {
                throw CLIError(
                    "no dealsync serve is running on the data directory \(directory.path); "
                        + "for a serve on an external database pass the --pid-file it was started with")
            }
            pid = holder.pid
        }
        var problems = 0
        do {
            _ = try config.load()
        } catch let error as ConfigurationError {
            for diagnostic in error.diagnostics { FileHandle.standardError.write(Data("\(diagnostic)\n".utf8)) }
            problems = error.diagnostics.count
        }
        guard kill(pid, SIGHUP) == 0 else {
            throw CLIError("cannot signal dealsync serve (pid \(pid)): \(String(cString: strerror(errno)))")
        }
        if problems > 0 {
            FileHandle.standardError.write(
                Data(
                    "\(problems) problem(s) found: dealsync serve (pid \(pid)) will refuse this configuration and keep the running one\n"
                        .utf8))
            throw ExitCode.failure
        }
        print("asked dealsync serve (pid \(pid)) to reload; its log and `dealsync dlq audit` tell the outcome")
    }
}
