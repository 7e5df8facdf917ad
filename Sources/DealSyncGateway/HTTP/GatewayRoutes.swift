import DealSyncConnectors
import DealSyncCore
import DealSyncStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Tracing

/// The gateway's HTTP surface: webhook intake, health, readiness and metrics.
struct GatewayRoutes: Sendable {
    /// The connectors are those of the current configuration: a reload adds and removes routes.
    let generations: CurrentGeneration
    /// Intake's group commit: a webhook is answered once the commit holding its row has completed.
    let writer: InboxWriter
    let database: Database
    let metrics: GatewayMetrics
    let wakeups: LaneWakeups
    let logger: Logger
    /// Webhook bodies larger than this are refused with 413 (amoCRM batches stay far below it).
    let bodyLimit: Int
    /// How long `/readyz` waits for the database before it answers 503.
    var readinessTimeout: Duration = .seconds(1)

    func register(on router: Router<BasicRequestContext>) {
        router.post("/webhooks/:connector") { request, context in
            try await self.webhook(request, connector: context.parameters.get("connector") ?? "", pathSecret: nil)
        }
        router.post("/webhooks/:connector/:secret") { request, context in
            try await self.webhook(
                request, connector: context.parameters.get("connector") ?? "",
                pathSecret: context.parameters.get("secret") ?? "")
        }
        router.get("/healthz") { _, _ in Self.json(.ok, ["status": "ok"]) }
        router.get("/readyz") { _, _ in await self.readiness() }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: self.metrics.exposition())))
        }
    }

    /// One server span per webhook, named by the route (never by the URL, which holds amoCRM's secret), continuing
    /// the sender's trace when it sent one; the stored row carries the span's context to the work it causes.
    func webhook(_ request: Request, connector id: String, pathSecret: String?) async throws -> Response {
        var incoming: [String: String] = [:]
        for (name, field) in Self.traceHeaders { if let value = request.headers[field] { incoming[name] = value } }
        return try await withSpan("POST /webhooks/{connector}", context: TraceContext.context(from: incoming), ofKind: .server) { span in
            span.attributes["dealsync.connector"] = id
            let response = try await store(request, connector: id, pathSecret: pathSecret)
            span.attributes["http.response.status_code"] = Int(response.status.code)
            return response
        }
    }

    /// Store first, answer after: a webhook is acknowledged only once it is durable, and the work happens later.
    func store(_ request: Request, connector id: String, pathSecret: String?) async throws -> Response {
        let started = ContinuousClock.now
        defer { metrics.webhookDuration(id, started.duration(to: .now)) }
        guard let connector = generations.current.registry.connector(id) else {
            metrics.webhook("unknown", outcome: "not_found")
            return Self.json(.notFound, ["error": "not found"])
        }
        let reader = WebhookReader(bodyLimit: bodyLimit, metrics: metrics, logger: logger)
        let webhook: WebhookRequest
        switch await reader.read(request, connector: connector, pathSecret: pathSecret) {
        case .read(let read): webhook = read
        case .refused(let response): return response
        }
        var item: InboxItem
        do {
            item = try connector.accept(webhook)
        } catch  where error.kind == .ignored {
            metrics.webhook(id, outcome: "ignored")
            return Self.json(.ok, ["status": "ignored"])
        } catch {
            return reader.refusal(error, connector: connector, pathSecret: pathSecret)
        }
        item.headers.merge(TraceContext.headers()) { $1 }
        guard database.isAvailable else {
            // Known to be away: answered at once, not after the writer's deadline.
            metrics.webhook(id, outcome: "store_failed")
            logger.warning("webhook not stored: the database is unavailable", metadata: ["connector": "\(id)"])
            return Self.json(.serviceUnavailable, ["error": "not stored; retry later"])
        }
        do {
            switch try await writer.record(item) {
            case .stored(let inboxID):
                metrics.webhook(id, outcome: "accepted")
                logger.debug(
                    "webhook stored",
                    metadata: [
                        "connector": "\(id)", "inbox_id": "\(inboxID)", "lineage_id": "\(item.lineageID.uuidString.lowercased())",
                    ])
                wakeups.signal(id)
                return Self.json(.ok, ["status": "accepted", "lineage_id": item.lineageID.uuidString.lowercased()])
            case .duplicate:
                metrics.webhook(id, outcome: "duplicate")
                return Self.json(.ok, ["status": "duplicate"])
            }
        } catch {
            // Not stored (the database is away or refused the row): the sender is told to try again, within the
            // writer's deadline and never after a long hang.
            metrics.webhook(id, outcome: "store_failed")
            logger.error("webhook could not be stored", metadata: ["connector": "\(id)", "error": "\(error)"])
            database.probeSoon()
            return Self.json(.serviceUnavailable, ["error": "not stored; retry later"])
        }
    }

    /// Ready when the database answers and its schema is the one this build needs. Answered at once while the
    /// database is known to be away, and within ``readinessTimeout`` otherwise.
    func readiness() async -> Response {
        guard database.isAvailable else {
            return Self.json(.serviceUnavailable, ["status": "not ready", "reason": "database unreachable"])
        }
        do {
            let (database, logger) = (self.database, self.logger)
            let version = try await withDeadline(readinessTimeout) { try await Migrator.currentVersion(database, logger: logger) }
            guard version == Migration.latestVersion else {
                return Self.json(
                    .serviceUnavailable, ["status": "not ready", "reason": "schema version \(version), need \(Migration.latestVersion)"])
            }
            return Self.json(.ok, ["status": "ready", "schema_version": "\(version)"])
        } catch {
            database.probeSoon()
            return Self.json(.serviceUnavailable, ["status": "not ready", "reason": "database unreachable"])
        }
    }

    /// The W3C trace-context headers a sender may continue its trace with.
    static let traceHeaders = ["traceparent", "tracestate"].map { ($0, HTTPField.Name($0)!) }

    static func json(_ status: HTTPResponse.Status, _ object: [String: String]) -> Response {
        var body: [UInt8] = []
        JSONText.write(.object(object.mapValues(JSONValue.string)), into: &body)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
