import AsyncHTTPClient
import DealSyncConnectors
import DealSyncCore
import DealSyncKafka
import DealSyncSimulators
import DealSyncTestSupport
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization
import Testing

/// What the MasterDeal connector tests share: a connector built from YAML the way the gateway builds it, a
/// simulator configured for it, a clock tests move by hand, and `contracts/check.py`.
enum MasterDealFixture {
    static let token = "md-connector-test-token"
    static let secret = "md-event-secret-current"
    static let previousSecret = "md-event-secret-previous"
    /// The client name the simulator gives ``token``; the connector's own writes come back with it as `source`.
    static let clientName = "dealsync"
    /// A second client of MasterDeal, whose writes are not dealsync's.
    static let otherToken = "md-billing-token"

    static let logger = Logger(label: "masterdeal-connector-test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The parts of `connectors/masterdeal.yaml` a test varies.
    struct Options: Sendable {
        var token = MasterDealFixture.token
        var previousSecret: String?
        var requestTimeout: String?
        var overlap = "2s"
    }

    /// The connector configuration, read from YAML by the real loader.
    static func config(baseURL: String, _ options: Options = Options()) throws -> ConnectorConfig {
        var webhook = "secret: \(secret)"
        if let previous = options.previousSecret { webhook += ", previous_secret: \(previous)" }
        var delivery = "backoff_base: 100ms, backoff_cap: 1s"
        if let timeout = options.requestTimeout { delivery += ", request_timeout: \(timeout)" }
        let yaml = """
            id: masterdeal
            kind: masterdeal
            base_url: \(baseURL)
            auth: {bearer_token: \(options.token)}
            webhook: {\(webhook)}
            poll: {interval: 1s, overlap: \(options.overlap)}
            rate_limit: {requests_per_second: 1000, burst: 1000}
            delivery: {\(delivery)}
            """
        let configuration = try ConfigurationLoader(environment: [:])
            .load(connectors: [.init(path: "connectors/masterdeal.yaml", text: yaml)], mappings: [])
        return try #require(configuration.masterDeal)
    }

    static func connector(baseURL: String, _ options: Options = Options()) throws -> MasterDealConnector {
        MasterDealConnector(
            config: try config(baseURL: baseURL, options), client: HTTPTransport.sharedClient, logger: logger,
            clientName: clientName)
    }

    /// A connector for tests that never reach the network (signatures, decoding).
    static func offlineConnector(_ options: Options = Options()) throws -> MasterDealConnector {
        try connector(baseURL: "http://127.0.0.1:9", options)
    }

    /// The simulator as the connector expects it: its token known, fast event retries, an optional clock.
    static func simulatorConfiguration(
        transitions: [String: [String]]? = nil, clock: ManualClock? = nil,
        eventTargets: [MasterDealSimulator.EventTarget] = []
    ) -> MasterDealSimulator.Configuration {
        var configuration = MasterDealSimulator.Configuration()
        configuration.tokens = [token: clientName, otherToken: "billing"]
        configuration.transitions = transitions
        configuration.eventTargets = eventTargets
        configuration.eventTimeScale = 0.005
        configuration.eventTimeout = .seconds(2)
        if let clock { configuration.clock = { clock.date } }
        return configuration
    }

    /// A create body for ``MasterDealSimulator/createAsUser(_:)`` with every field set.
    static let fullDeal: MasterDealSimulator.JSONValue = [
        "account_id": "acc-1", "opportunity_name": "Tour to Sochi", "stage": "lead", "amount": "150000",
        "currency": "RUB", "owner_id": "u-olga", "sla_due_at": "2026-11-30T18:00:00+03:00",
        "attributes": ["pax": 2, "rate": 2.5, "vip": true, "note": "window seat"],
    ]

    /// `2026-11-30T18:00:00+03:00` in unix seconds.
    static let fullDealSLA: Int64 = 1_796_050_800

    /// The record keys ``fullDeal`` decodes to, at stage `stage`.
    static func fullDealFields(stage: String = "lead") -> [String: FieldValue] {
        [
            "opportunity_name": .text("Tour to Sochi"), "stage": .text(stage),
            "amount": .money(Money(amount: 150_000, currency: "RUB")), "owner_id": .text("u-olga"),
            "sla_due_at": .time(fullDealSLA), "attributes.pax": .integer(2),
            "attributes.rate": .decimal(Decimal(string: "2.5")!), "attributes.vip": .bool(true),
            "attributes.note": .text("window seat"),
        ]
    }

    static func delivery(
        _ operation: RecordDecision.Operation, recordID: String? = nil, key: String = UUID().uuidString.lowercased(),
        values: [String: FieldValue], knownVersion: Int64? = nil
    ) -> Delivery {
        Delivery(
            outboxIDs: [1], idempotencyKey: key, operation: operation, recordID: recordID, masterDealID: recordID,
            values: values, lineageID: UUID(), knownVersion: knownVersion)
    }

    /// The messages on `topic` from its start, read until `count` have come (or 20 s of polls passed).
    static func consume(_ cluster: KafkaMockCluster, topic: String, until count: Int) async throws -> [KafkaMessage] {
        let consumer = try KafkaConsumer(
            properties: ["bootstrap.servers": cluster.bootstrapServers, "group.id": "check"], topics: [topic], logger: logger)
        var messages: [KafkaMessage] = []
        for _ in 0..<100 where messages.count < count {
            messages += await consumer.poll(maxMessages: 10, timeout: .milliseconds(200)).messages
        }
        await consumer.close()
        return messages
    }

    /// The single observation a row decodes to.
    static func observation(_ connector: MasterDealConnector, _ item: InboxItem) throws -> Observation {
        guard case .observations(let observations) = try connector.decode(InboxRow(id: 1, item: item)) else {
            throw FixtureFailure("the row did not decode to observations")
        }
        try #require(observations.count == 1)
        return observations[0]
    }
}

/// A test precondition that did not hold.
struct FixtureFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A loopback stand-in for MasterDeal that records every request exactly as the connector sent it and answers
/// with a deal, so writes can be checked against the contract byte for byte.
final class RequestRecorder: Sendable {
    struct Recorded: Sendable {
        var method: String
        var path: String
        var headers: [String: String]
        var body: Data
    }

    private let recorded = Mutex<[Recorded]>([])

    var requests: [Recorded] { recorded.withLock { $0 } }

    static let answer = Data(
        """
        {"id":"md-7f3a9c21","account_id":"acc-1","opportunity_name":"Tour","stage":"lead","amount":null,
         "currency":null,"owner_id":null,"sla_due_at":null,"created_at":"2026-11-23T10:00:00.123Z",
         "updated_at":"2026-11-23T10:00:00.123Z","version":4,"attributes":{}}
        """.utf8)

    func withRunning<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let router = Router()
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            var request = request
            let bytes = try await request.collectBody(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            self.recorded.withLock {
                $0.append(
                    Recorded(
                        method: request.method.rawValue, path: request.uri.path, headers: headers,
                        body: Data(bytes.readableBytesView)))
            }
            return Response(
                status: request.method == .post ? .created : .ok,
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: Self.answer)))
        }
        router.post("/v1/deals", use: handler)
        router.patch("/v1/deals/:id", use: handler)
        return try await SimulatorHost.withRunning(router: router, body)
    }
}
