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
/// configuration with no problem, and no change to the MasterDeal connector, is applied, whole
/// (``Gateway/adopt(_:changes:)``): CRM connectors added start, removed ones stop after their in-flight work, changed
/// ones restart with their new settings, mappings apply to every batch decided after the switch. Anything else is
/// refused with every problem in the log, and the running configuration keeps running. Every reload, accepted or
/// refused, is in the audit log (`config.reload`) and in `dealsync_config_reloads_total{result}`.
///
/// With a watch interval (`serve --watch-config`), the files are also read that often and a reload runs by itself
/// once they have changed and then stayed the same for one more interval (an editor or a deploy still writing
/// them is waited for). A refused set of files is not tried again until it changes.
public final class ConfigurationReloader: Service {
    public enum Outcome: Sendable, Equatable {
        /// `connectors`: what happened to the CRM connectors; `waiting`: per removed connector, what it left waiting.
        case accepted(generation: Int, changes: [String], connectors: String = "none", waiting: [String] = [])
        case refused(problems: [String], changes: [String])
    }

    public typealias Load = @Sendable () throws -> Configuration

    let gateway: Gateway
    let directory: String
    let load: Load
    let signals: UnixSignalsSequence?
    let watchInterval: Duration?
    let actor: String
    let logger: Logger
    /// The files the running configuration was read from.
    private let files: Mutex<ConfigurationFiles>

    /// `load` reads and validates the configuration below `directory` as `dealsync validate` does; `signals` are
    /// the hang-ups to reload on (trapped before the service group starts, so an early one is not fatal).
    public init(
        gateway: Gateway, directory: String, load: @escaping Load, signals: UnixSignalsSequence?, watchInterval: Duration? = nil,
        logger: Logger
    ) {
        self.gateway = gateway
        self.directory = directory
        self.load = load
        self.signals = signals
        self.watchInterval = watchInterval
        self.actor = "SIGHUP to dealsync serve (pid \(getpid()))"
        self.logger = logger
        self.files = Mutex(ConfigurationFiles.read(directory: directory))
        gateway.metrics.registerReloads()
    }

    public func run() async throws {
        guard signals != nil || watchInterval != nil else { return }
        // Hang-ups and the watch ask; one reload runs at a time, and asks made meanwhile count once.
        let (asks, asking) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(1))
        await withDiscardingTaskGroup { group in
            if let signals {
                group.addTask {
                    for await _ in signals.cancelOnGracefulShutdown() { asking.yield(self.actor) }
                }
            }
            if let watchInterval {
                group.addTask { await self.watch(every: watchInterval, asking: asking) }
            }
            group.addTask {
                for await actor in asks.cancelOnGracefulShutdown() { _ = await self.reload(by: actor) }
            }
        }
    }

    /// Reads the files every `interval` and asks for a reload when they differ from the running ones and have
    /// settled (the same in two readings in a row), once per distinct set of files.
    private func watch(every interval: Duration, asking: AsyncStream<String>.Continuation) async {
        var previous = ConfigurationFiles.read(directory: directory)
        var asked = files.withLock { $0 }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await pause(interval)
            let read = ConfigurationFiles.read(directory: directory)
            gateway.metrics.configWatched()
            defer { previous = read }
            guard read == previous, read != asked, read != files.withLock({ $0 }) else { continue }
            asked = read
            asking.yield("configuration watch of dealsync serve (pid \(getpid()))")
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
                let adoption = await gateway.adopt(next, changes: changes)
                files.withLock { $0 = read }
                outcome = .accepted(
                    generation: adoption.generation.number, changes: changed, connectors: adoption.connectors.description,
                    waiting: adoption.leftWaiting.map { "\($0.connector): \($0.writes) writes and \($0.rows) inbox rows waiting" })
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
        case .accepted(let generation, let changes, let connectors, let waiting):
            gateway.metrics.configReload(result: "accepted")
            details = [
                "result": "accepted", "generation": "\(generation)", "changed": changes.joined(separator: ", "),
                "connectors": connectors,
            ]
            if !waiting.isEmpty { details["left_waiting"] = waiting.joined(separator: "; ") }
            var metadata: Logger.Metadata = [
                "generation": "\(generation)", "changed": "\(changes.isEmpty ? "nothing" : changes.joined(separator: ", "))",
                "connectors": "\(connectors)",
            ]
            if !waiting.isEmpty { metadata["left_waiting"] = "\(waiting.joined(separator: "; "))" }
            logger.notice("configuration reloaded", metadata: metadata)
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
