import ArgumentParser
import DealSyncCore
import DealSyncGateway
import DealSyncStore
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the gateway: webhook routes, intake, pollers, outbox relays, /healthz, /readyz and /metrics.")

    @OptionGroup var config: ConfigOptions
    @OptionGroup var database: DatabaseOptions

    @Option(help: "Address to listen on.") var host = "0.0.0.0"
    @Option(help: "Port to listen on.") var port = 8080
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel = "info"
    @Option(help: "Inbox rows each connector's lane decides per transaction.") var inboxBatchSize = 200
    @Option(
        help:
            "Batches of one lane under way at once: the next is claimed while the one before decides and saves (1: one at a time)."
    )
    var inboxOverlap = 4
    @Option(
        help:
            "Webhook group commits under way at once, at most (each stores what queued meanwhile, up to 500 webhooks; while one is under way the next starts at 32 or after 2 ms)."
    )
    var intakeCommits = 4
    @Option(help: "Relays of MasterDeal's writes in this process (their rounds overlap; each deal's writes stay in order).")
    var masterdealRelays = 4
    @Flag(help: "Do not poll connectors (webhooks and events only).") var noPolling = false
    @Option(
        help:
            "Write this process's pid here while it runs, for `dealsync reload --pid-file` (with the embedded default, the data directory records it)."
    )
    var pidFile: String?
    @Flag(help: "Only store webhooks (no inbox lanes, pollers or relays): a front process while others do the work.")
    var intakeOnly = false
    @Flag(help: "Reload by itself when connectors/ or mappings/ change (read every --watch-interval), besides on SIGHUP.")
    var watchConfig = false
    @Option(help: "How often --watch-config reads the files, in seconds.") var watchInterval = 2.0

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        // Traces (off unless OTEL_* asks for them) first: the gateway's HTTP client takes the tracer it finds.
        let tracing = try DealSyncTracing.bootstrap()
        LoggingSystem.bootstrap(
            { label, provider in JSONLogHandler(label: label, level: level, metadataProvider: provider) },
            metadataProvider: tracing == nil ? nil : DealSyncTracing.loggingMetadata)
        let logger = Logger(label: "dealsync")
        if tracing != nil { logger.info("tracing on: spans go to the OTLP endpoint of OTEL_*") }
        let configuration: Configuration
        do {
            configuration = try config.load()
        } catch let error as ConfigurationError {
            for diagnostic in error.diagnostics { FileHandle.standardError.write(Data("\(diagnostic)\n".utf8)) }
            throw ExitCode.failure
        }
        var options = Gateway.Options()
        options.host = host
        options.port = port
        options.inboxBatchSize = max(1, inboxBatchSize)
        options.inboxOverlap = max(1, inboxOverlap)
        options.intake.flushers = max(1, intakeCommits)
        options.masterDealRelays = max(1, masterdealRelays)
        options.polling = !noPolling
        options.intakeOnly = intakeOnly
        let gatewayOptions = options
        // Trapped now, before anything else runs: the default action of SIGHUP ends the process.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let config = self.config
        let pidFile = self.pidFile
        let watch: Duration? = watchConfig ? .milliseconds(Int64(max(0.1, watchInterval) * 1000)) : nil
        try await database.withServeDatabase(configDirectory: config.directory, logger: logger) { db in
            if let pidFile { try Data("\(getpid())\n".utf8).write(to: URL(fileURLWithPath: pidFile)) }
            defer { if let pidFile { unlink(pidFile) } }
            let report = try await Migrator(logger: logger).migrate(db)
            logger.info("schema ready", metadata: ["version": "\(report.currentVersion)", "applied": "\(report.applied.count)"])
            let gateway = Gateway(configuration: configuration, database: db, options: gatewayOptions, logger: logger)
            let reloader = ConfigurationReloader(
                gateway: gateway, directory: config.directory, load: { try config.load() },
                signals: hangups, watchInterval: watch, logger: logger)
            // The exporter first, so it stops last and flushes the spans of everything else.
            let services =
                (tracing.map { [$0] } ?? [])
                + gateway.services { port in
                    logger.info("listening", metadata: ["host": "\(gatewayOptions.host)", "port": "\(port)"])
                } + [reloader]
            var groupConfiguration = ServiceGroupConfiguration(
                services: services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger)
            // A service still running after the grace period is cancelled; one that ignores even that ends the process.
            groupConfiguration.maximumGracefulShutdownDuration = gatewayOptions.shutdownGrace
            groupConfiguration.maximumCancellationDuration = .seconds(5)
            let group = ServiceGroup(configuration: groupConfiguration)
            try await group.run()
            logger.info("stopped")
        }
    }
}
