import DealSyncCore
import DealSyncStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Applies a changed configuration without a restart, on each `SIGHUP` (`dealsync reload` sends one).
///
/// A reload re-reads `connectors/` and `mappings/` and validates them exactly as `dealsync validate` does. Only a
/// configuration with no problem, whose connectors are those running, is applied, at once and whole
/// (``Gateway/adopt(_:)``); anything else is refused with every problem in the log, and the running configuration
/// keeps running. Every reload, accepted or refused, is in the audit log (`config.reload`) and in
/// `dealsync_config_reloads_total{result}`.
public final class ConfigurationReloader: Service {
    public enum Outcome: Sendable, Equatable {
        case accepted(generation: Int, changes: [String])
        case refused(problems: [String], changes: [String])
    }

    public typealias Load = @Sendable () throws -> Configuration

    let gateway: Gateway
    let directory: String
    let load: Load
    let signals: UnixSignalsSequence?
    let actor: String
    let logger: Logger
    /// The files the running configuration was read from.
    private let files: Mutex<ConfigurationFiles>

    /// `load` reads and validates the configuration below `directory` as `dealsync validate` does; `signals` are
    /// the hang-ups to reload on (trapped before the service group starts, so an early one is not fatal).
    public init(gateway: Gateway, directory: String, load: @escaping Load, signals: UnixSignalsSequence?, logger: Logger) {
        self.gateway = gateway
        self.directory = directory
        self.load = load
        self.signals = signals
        self.actor = "SIGHUP to dealsync serve (pid \(getpid()))"
        self.logger = logger
        self.files = Mutex(ConfigurationFiles.read(directory: directory))
        gateway.metrics.registerReloads()
    }

    public func run() async throws {
        guard let signals else { return }
        for await _ in signals.cancelOnGracefulShutdown() {
            _ = await reload(by: actor)
        }
    }

    /// Reads, checks and applies the configuration; returns what happened.
    public func reload(by actor: String) async -> Outcome {
        let read = ConfigurationFiles.read(directory: directory)
        let changes = files.withLock { $0.changes(to: read) }
        let changed = changes.map(\.description)
        let outcome: Outcome
        do {
            let next = try load()
            let reasons = gateway.restartReasons(for: next, changes: changes)
            if reasons.isEmpty {
                let generation = gateway.adopt(next)
                files.withLock { $0 = read }
                outcome = .accepted(generation: generation.number, changes: changed)
            } else {
                outcome = .refused(problems: reasons, changes: changed)
            }
        } catch let error as ConfigurationError {
            outcome = .refused(problems: error.diagnostics.map(\.description), changes: changed)
        } catch {
            outcome = .refused(problems: ["\(error)"], changes: changed)
        }
        await report(outcome, actor: actor)
        return outcome
    }

    private func report(_ outcome: Outcome, actor: String) async {
        var details: [String: String] = [:]
        switch outcome {
        case .accepted(let generation, let changes):
            gateway.metrics.configReload(result: "accepted")
            details = ["result": "accepted", "generation": "\(generation)", "changed": changes.joined(separator: ", ")]
            logger.notice(
                "configuration reloaded",
                metadata: [
                    "generation": "\(generation)", "changed": "\(changes.isEmpty ? "nothing" : changes.joined(separator: ", "))",
                ])
        case .refused(let problems, let changes):
            gateway.metrics.configReload(result: "refused")
            details = ["result": "refused", "changed": changes.joined(separator: ", "), "problems": problems.joined(separator: "\n")]
            for problem in problems {
                logger.error("configuration problem", metadata: ["problem": "\(problem)"])
            }
            logger.error(
                "configuration reload refused; the running configuration is kept",
                metadata: [
                    "problems": "\(problems.count)", "changed": "\(changes.isEmpty ? "nothing" : changes.joined(separator: ", "))",
                ])
        }
        do {
            try await AuditStore(database: gateway.database, logger: logger).record(
                actor: actor, action: "config.reload", target: directory, reason: details["result"], details: details)
        } catch {
            logger.warning(
                "the reload could not be written to the audit log", metadata: ["error": "\(String(describing: error).prefix(200))"])
        }
    }
}
