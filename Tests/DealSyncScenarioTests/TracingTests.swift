import DealSyncCore
import DealSyncSimulators
import DealSyncTestSupport
import Foundation
import Hummingbird
import NIOCore
import Synchronization
import Testing

/// OpenTelemetry traces from a real `dealsync serve`, received over OTLP/HTTP (JSON) by a receiver in this test:
/// a lead made in amoCRM is one trace from the webhook to the MasterDeal write.
@Suite(.serialized)
struct TracingTests {
    /// An OTLP/HTTP receiver: every export request's body, as received.
    final class Receiver: Sendable {
        let bodies = Mutex<[Data]>([])

        var router: Router<BasicRequestContext> {
            let router = Router()
            router.post("/v1/traces") { request, _ in
                let body = try await request.body.collect(upTo: 16 << 20)
                let bytes = Data(body.readableBytesView)
                self.bodies.withLock { $0.append(bytes) }
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: .init(string: "{}")))
            }
            return router
        }

        /// Every span received, as JSON objects, with their attributes flattened to strings.
        var spans: [Span] {
            bodies.withLock { $0 }.flatMap { body -> [Span] in
                guard let json = JSONValue.parse(body) else { return [] }
                return (json["resourceSpans"]?.array ?? []).flatMap { resource in
                    (resource["scopeSpans"]?.array ?? []).flatMap { scope in (scope["spans"]?.array ?? []).map(Span.init) }
                }
            }
        }
    }

    struct Span: CustomStringConvertible {
        var traceID: String
        var spanID: String
        var parentID: String
        var name: String
        var kind: Int
        var attributes: [String: String]
        /// The span ids this span links to.
        var links: [String]

        init(_ json: JSONValue) {
            traceID = json["traceId"]?.string ?? ""
            spanID = json["spanId"]?.string ?? ""
            parentID = json["parentSpanId"]?.string ?? ""
            name = json["name"]?.string ?? ""
            kind = json["kind"]?.int64.map(Int.init) ?? 0
            links = (json["links"]?.array ?? []).compactMap { $0["spanId"]?.string }
            var attributes: [String: String] = [:]
            for attribute in json["attributes"]?.array ?? [] {
                guard let key = attribute["key"]?.string, let value = attribute["value"]?.object?.values.first else { continue }
                attributes[key] = value.text ?? String(decoding: value.data(), as: UTF8.self)
            }
            self.attributes = attributes
        }

        var description: String { "\(name) trace=\(traceID) span=\(spanID) parent=\(parentID) \(attributes)" }
    }

    @Test func aLeadMadeInAmoCRMIsOneTraceFromTheWebhookToTheMasterDealWrite() async throws {
        let receiver = Receiver()
        try await SimulatorHost.withRunning(router: receiver.router) { receiverURL in
            var options = Scenario.Options()
            options.polling = false
            // "webhook stored" (debug) is logged inside the webhook's span.
            options.logLevel = "debug"
            options.serveEnvironment = [
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiverURL, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_BSP_SCHEDULE_DELAY": "100",
                "OTEL_SERVICE_NAME": "dealsync-test",
            ]
            try await Scenario.run(options) { scenario in
                try await scenario.startGateway()
                _ = try scenario.amo.createAsSalesperson(
                    userID: Scenario.olga,
                    AmoLeadFields(
                        name: "Traced lead", price: 42_000, statusID: 7_001_002, pipelineID: Scenario.pipeline))
                try await eventually("MasterDeal has the deal", timeout: .seconds(30)) {
                    scenario.deals().contains { $0.opportunityName == "Traced lead" }
                }
                // Spans are exported in batches every 100 ms.
                // (Recording the answer ends after the delivery's span, so it may come in a later export.)
                try await eventually("the delivery's spans arrived", timeout: .seconds(20)) {
                    let spans = receiver.spans
                    let delivered = spans.first {
                        $0.name == "deliver create masterdeal" && $0.attributes["dealsync.outcome"] == "delivered"
                    }
                    return delivered.map { delivered in
                        spans.contains { $0.name == "record 1 outcomes" && $0.traceID == delivered.traceID }
                    } ?? false
                }
                let spans = receiver.spans
                #expect(spans.count >= 3, "\(spans)")
                let deliver = try #require(
                    spans.first { $0.name == "deliver create masterdeal" && $0.attributes["dealsync.outcome"] == "delivered" })
                let webhook = try #require(spans.first { $0.spanID == deliver.parentID }, "the delivery's parent span: \(spans)")
                #expect(webhook.name == "POST /webhooks/{connector}")
                #expect(webhook.attributes["dealsync.connector"] == "tour")
                #expect(webhook.traceID == deliver.traceID)
                #expect(!deliver.attributes["dealsync.lineage_id", default: ""].isEmpty)
                // The lane's decision of the stored row is in the same trace, under the webhook.
                let decide = try #require(spans.first { $0.name == "decide webhook" && $0.parentID == webhook.spanID }, "\(spans)")
                #expect(decide.traceID == webhook.traceID)
                #expect(decide.attributes["dealsync.outcome"] == "processed")
                let lead = try #require(scenario.leads().first { $0.name == "Traced lead" })
                #expect(decide.attributes["dealsync.record_id"] == String(lead.id))
                #expect(decide.attributes["dealsync.writes"] == "1", "\(decide)")
                #expect(decide.attributes["dealsync.lineage_id"] == deliver.attributes["dealsync.lineage_id"])
                // The lane's transaction is a span of its own (a batch has many causes) that the decision links to,
                // with a span per database step.
                Self.expectDatabaseSpans(in: spans, decide: decide, deliver: deliver)
                // The HTTP client's span of the write to MasterDeal is the delivery's child, in the same trace.
                let request = try #require(spans.first { $0.parentID == deliver.spanID }, "the client span: \(spans)")
                #expect(request.traceID == deliver.traceID)
                #expect(request.name.contains("POST"), "\(request)")

                // Nothing secret in any span: the webhook URL's secret, the tokens, the client secret.
                let everything = receiver.bodies.withLock { $0 }.map { String(decoding: $0, as: UTF8.self) }.joined()
                for secret in [Scenario.webhookSecret, Scenario.token, Scenario.eventSecret, "sim-client-secret-0f4e8d2c7b6a"] {
                    #expect(!everything.contains(secret), "a span holds a secret")
                }
                let stored = scenario.gatewayLogs().split(separator: "\n").filter { $0.contains("\"webhook stored\"") }
                #expect(!stored.isEmpty)
                #expect(stored.allSatisfy { $0.contains("\"trace_id\"") && $0.contains("\"span_id\"") }, "\(stored)")
            }
        }
    }

    @Test func aDealMadeInMasterDealIsOneTraceFromItsEventToTheAmoCRMRequest() async throws {
        let receiver = Receiver()
        try await SimulatorHost.withRunning(router: receiver.router) { receiverURL in
            try await Scenario.run(Self.traced(to: receiverURL)) { scenario in
                try await scenario.startGateway()
                try Self.dealInMasterDeal(scenario, "Traced deal")
                try await eventually("amoCRM has the lead", timeout: .seconds(30)) {
                    scenario.leads().contains { $0.name == "Traced deal" }
                }
                try await eventually("the delivery's span arrived", timeout: .seconds(20)) {
                    receiver.spans.contains { $0.name == "deliver 1 to tour" }
                }
                let spans = receiver.spans
                let deliver = try #require(spans.first { $0.name == "deliver 1 to tour" })
                #expect(deliver.attributes["dealsync.outcome.delivered"] == "1", "\(deliver)")
                // MasterDeal's signed event came in as a webhook: the delivery to amoCRM hangs off that span.
                let webhook = try #require(spans.first { $0.spanID == deliver.parentID }, "\(spans)")
                #expect(webhook.name == "POST /webhooks/{connector}")
                #expect(webhook.attributes["dealsync.connector"] == "masterdeal")
                let request = try #require(spans.first { $0.parentID == deliver.spanID }, "the client span: \(spans)")
                #expect(request.traceID == webhook.traceID)

                // What the divergence log got is on the decision's span, with the rule: an owner the mapping's
                // directory does not know is an unmapped value of the owner transform.
                try Self.dealInMasterDeal(scenario, "Traced stranger", owner: "u-nobody")
                let unmapped = try #require(
                    try await Self.first(in: receiver, "the unknown owner's decision") { span in
                        span.name == "decide webhook" && span.attributes["dealsync.rules"] != nil
                    })
                #expect(unmapped.attributes["dealsync.rules"] == "unmapped_value owner", "\(unmapped)")
            }
        }
    }

    /// The lane's transaction is a span of its own that the decision links to, with a span per database step;
    /// recording the target's answer is in the change's trace, with its database steps.
    static func expectDatabaseSpans(in spans: [Span], decide: Span, deliver: Span) {
        let batches = spans.filter { span in span.name == "inbox batch" && decide.links.contains(span.spanID) }
        #expect(batches.count == 1, "\(decide)")
        let batchID = batches.first?.spanID ?? "-"
        #expect(batches.first?.attributes["dealsync.connector"] == "tour")
        let steps = Set(spans.filter { span in span.parentID == batchID }.map { span in span.name })
        // The rows' statuses are written with the decisions (a batch that decided nothing has `db write row statuses`).
        #expect(steps == ["db claim inbox rows", "db lock and load links", "db save decisions"], "\(steps)")
        // Recording MasterDeal's answer is in the change's trace too, with its database steps.
        let recorded = spans.filter { span in span.name == "record 1 outcomes" && span.traceID == deliver.traceID }
        #expect(recorded.count == 1, "\(spans)")
        let recordedID = recorded.first?.spanID ?? "-"
        #expect(spans.contains { span in span.parentID == recordedID && span.name == "db save decisions" })
    }

    /// A scenario whose `serve` exports its spans to `receiverURL` (OTLP/HTTP JSON, every 100 ms), webhooks only.
    static func traced(to receiverURL: String) -> Scenario.Options {
        var options = Scenario.Options()
        options.polling = false
        options.serveEnvironment = [
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiverURL, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_BSP_SCHEDULE_DELAY": "100",
        ]
        return options
    }

    /// A deal made by a person in MasterDeal, for the scenario's account.
    static func dealInMasterDeal(_ scenario: Scenario, _ name: String, owner: String = "u-olga") throws {
        try scenario.masterDeal.createAsUser(
            .object([
                "account_id": .string(Scenario.account), "opportunity_name": .string(name), "stage": .string("lead"),
                "amount": .string("1000.00"), "currency": .string("RUB"), "owner_id": .string(owner),
            ]))
    }

    /// The first span received that satisfies `match`, waiting for it to arrive.
    static func first(in receiver: Receiver, _ what: String, _ match: @escaping @Sendable (Span) -> Bool) async throws -> Span? {
        try await eventually(what, timeout: .seconds(30)) { receiver.spans.contains(where: match) }
        return receiver.spans.first(where: match)
    }

    @Test func aDealEventOnKafkaIsOneTraceFromItsConsumptionToTheAmoCRMRequest() async throws {
        let receiver = Receiver()
        try await SimulatorHost.withRunning(router: receiver.router) { receiverURL in
            var options = Self.traced(to: receiverURL)
            options.kafka = true
            try await Scenario.run(options) { scenario in
                try await scenario.startGateway()
                try Self.dealInMasterDeal(scenario, "Traced bus deal")
                try await eventually("amoCRM has the lead", timeout: .seconds(60)) {
                    scenario.leads().contains { $0.name == "Traced bus deal" }
                }
                let deliver = try #require(try await Self.first(in: receiver, "the delivery's span") { $0.name == "deliver 1 to tour" })
                let spans = receiver.spans
                // The event's consumption is the trace's root: the lane's decision and the delivery hang off it.
                let consume = try #require(spans.first { $0.spanID == deliver.parentID }, "\(spans)")
                #expect(consume.name.hasPrefix("consume "), "\(consume)")
                #expect(consume.kind == 5, "a consumer span")
                #expect(consume.attributes["messaging.system"] == "kafka")
                #expect(!consume.attributes["messaging.kafka.offset", default: ""].isEmpty)
                let decide = try #require(spans.first { $0.name == "decide kafka" && $0.parentID == consume.spanID }, "\(spans)")
                #expect(decide.traceID == deliver.traceID)
            }
        }
    }
}
