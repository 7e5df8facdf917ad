import AsyncHTTPClient
import DealSyncSimulators
import DealSyncStore
import Foundation
import Hummingbird
import Logging
import PostgresNIO
import Synchronization

/// Counts what `serve` exports over OTLP/HTTP, so a traced run proves its spans left the process.
final class OTLPSink: Sendable {
    let requests = Mutex(0)

    var router: Router<BasicRequestContext> {
        let router = Router()
        router.post("/v1/traces") { request, _ in
            _ = try await request.body.collect(upTo: 64 << 20)
            self.requests.withLock { $0 += 1 }
            return Response(status: .ok, headers: [.contentType: "application/x-protobuf"], body: .init())
        }
        return router
    }
}

extension ServeBench {
    /// The webhook ingest (intake-only `serve`) and a drain of `plan.tracingBacklog` rows, first with tracing off,
    /// then on (OTLP/HTTP to a sink in this process), then off again, so their difference is measured side by side in one run.
    func tracingCost(
        gateway: GatewayProcess, database: Database, client: HTTPClient, hook: String, leads: [Int], plan: Plan, directory: String,
        logger: Logger
    ) async throws -> [TracingCost] {
        let sink = OTLPSink()
        return try await SimulatorHost.withRunning(router: sink.router) { sinkURL in
            var results: [TracingCost] = []
            // Off, on, off: the second run without tracing shows how much the order alone (a fuller database) moves the figures.
            for (round, traced) in [false, true, false].enumerated() {
                var cost = TracingCost(traced: traced)
                gateway.environment = traced ? ["OTEL_EXPORTER_OTLP_ENDPOINT": sinkURL, "OTEL_BSP_SCHEDULE_DELAY": "1000"] : [:]
                defer { gateway.environment = [:] }
                try await gateway.start(intakeOnly: true)
                let script = directory + "/tracing-\(round).lua"
                try LoadTools.amoScript(firstID: 910_000_000 + round * 10_000_000).write(toFile: script, atomically: true, encoding: .utf8)
                cost.ingest = try await LoadTools.wrk(hook, seconds: plan.seconds, script: script)
                try await gateway.stop()
                // The ingest's rows are not the drain's: set aside, as the ingest phase does.
                _ = try await database.client.query("TRUNCATE inbox CASCADE", logger: logger)
                try await gateway.start(intakeOnly: true)
                let part = Array(leads[(round * plan.tracingBacklog)..<((round + 1) * plan.tracingBacklog)])
                var fill = try await AmoLoad(url: hook, client: client).send(leads: part)
                for _ in 0..<5 where !fill.refused.isEmpty { fill = try await AmoLoad(url: hook, client: client).send(leads: fill.refused) }
                try await gateway.stop()
                guard fill.refused.isEmpty else { throw BenchError("filling the tracing backlog: \(fill.statuses)") }
                let lastRow = try await Self.lastInboxRow(database: database, logger: logger)
                try await gateway.start()
                cost.drain = try await Self.drain(plan.tracingBacklog, lastRow: lastRow, database: database, logger: logger)
                try await Self.waitForMasterDealWrites(database: database, logger: logger)
                try await gateway.stop()
                cost.exportRequests = sink.requests.withLock { $0 }
                say(
                    String(
                        format:
                            "tracing %@: webhook ingest %.0f req/s, p50 %.2f ms, p99 %.2f ms (%d answers, %d not 2xx); drain %.0f observations/s%@",
                        traced ? "on " : "off", cost.ingest.requestsPerSecond, cost.ingest.p50, cost.ingest.p99, cost.ingest.requests,
                        cost.ingest.non2xx, cost.drain, traced ? "; \(cost.exportRequests) OTLP export requests received" : ""))
                results.append(cost)
            }
            return results
        }
    }
}
