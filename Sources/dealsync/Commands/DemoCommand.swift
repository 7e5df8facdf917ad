import ArgumentParser
import DealSyncDemo
import DealSyncGateway
import Foundation

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run dealsync end to end on a private PostgreSQL with the built-in simulators, narrating and checking each step.",
        discussion: "Ends with `demo: N checks passed, M failed`; exits 0 only when nothing failed.")

    @Option(name: .customLong("config"), help: "Directory holding connectors/ and mappings/.") var directory = "."
    @Flag(help: "Leave everything running afterwards and print the URLs and commands to try next.") var keepRunning = false
    @Option(help: "The gateway's port (0 picks a free one).") var port = 0
    @Option(help: "How MasterDeal talks to dealsync: http (signed webhooks and REST) or kafka (a bus on a mock cluster on loopback).")
    var bus: DemoRunner.Bus = .http
    @Option(help: "Multiplies how long each step waits before it counts as failed (for a slow or busy machine).")
    var patience: Double = 1

    func validate() throws {
        guard patience > 0, patience.isFinite else { throw ValidationError("--patience must be a number above 0, got \(patience)") }
    }

    func run() async throws {
        var options = DemoRunner.Options()
        options.configDirectory = directory
        options.keepRunning = keepRunning
        options.gatewayPort = port
        options.bus = bus
        options.patience = patience
        // The demo honours OTEL_* like serve: a person can watch its changes in their own tracing backend.
        if let tracing = try DealSyncTracing.bootstrap() { options.services = [tracing] }
        // Written straight through, so the timeline is read as it happens, also through a pipe or a file.
        let timeline = Timeline { line in FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
        let passed: Bool
        do {
            passed = try await DemoRunner(options: options, timeline: timeline).run()
        } catch {
            timeline.write("demo: could not run: \(error)")
            timeline.write(timeline.summary)
            throw ExitCode.failure
        }
        timeline.write("")
        timeline.write(timeline.summary)
        if !passed { throw ExitCode.failure }
    }
}

extension DemoRunner.Bus: ExpressibleByArgument {}
