import AsyncHTTPClient
import DealSyncConnectors
import DealSyncCore
import DealSyncSimulators
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// The tour agency the amoCRM connector tests sync: its mapping, its connector file and the ids they name.
enum AmoFixture {
    static let connectorID = "tour"
    static let webhookSecret = "amo-hook-secret-5d1f0c7e"
    static let clientID = "5f1c9a52-7d3e-4b8a-9c61-2e0d4f7b8a19"
    static let clientSecret = "sim-client-secret-0f4e8d2c7b6a"
    static let redirectURI = "https://dealsync.example/oauth/amocrm"
    static let initialRefreshToken = "def50200-sim-initial-refresh-token"
    /// The tests' own long-lived token for setting up the account through the API (never the connector's).
    static let testToken = "amo-test-long-lived-token-0001"

    static let pipeline = 7_001_000
    static let newLead = 7_001_001
    static let qualified = 7_001_002
    static let warming = 7_001_003
    static let proposal = 7_001_004
    static let won = 142
    static let lost = 143

    static let olga = 6_001_001
    static let ivan = 6_001_002
    static let anna = 6_001_003

    static let linkField = 900_001
    static let slaField = 900_002
    static let phoneField = 900_003
    static let tourTypeField = 900_004
    static let travellersField = 900_005
    static let beach = 501
    static let ski = 502

    static let mappingYAML = """
        name: tour
        crm: amocrm
        pipeline: 7001000
        link_field: custom_fields.900001
        fields:
          title: {master: opportunity_name, crm: name, conflict: lww}
          amount:
            master: amount
            crm: price
            transform: {money: {currency: RUB}}
            conflict: {priority: master}
          stage: {master: stage, crm: status, transform: stage, conflict: {priority: master}}
          owner: {master: owner_id, crm: responsible_user_id, transform: owner, conflict: lww}
          sla_due_at: {master: sla_due_at, crm: custom_fields.900002, transform: timestamp, direction: master_to_crm}
          client_phone: {master: attributes.client_phone, crm: custom_fields.900003, direction: crm_to_master}
          tour_type:
            master: attributes.tour_type
            crm: custom_fields.900004
            transform: {enum: {beach: "501", ski: "502"}}
          travellers: {master: attributes.travellers, crm: custom_fields.900005, transform: number}
        stages:
          lead: [{status: 7001001, name: Новый лид}]
          qualified: [{status: 7001002, name: Квалификация}, {status: 7001003, name: Прогрев}]
          proposal: [{status: 7001004, name: Предложение}]
          won: [142]
          lost: [143]
        owners:
          - {master: u-olga, crm: 6001001, email: olga@example.com, name: Ольга}
          - {master: u-ivan, crm: 6001002, email: ivan@example.com, name: Иван}
          - {master: u-anna, crm: 6001003, email: anna@example.com, name: Анна}
        """

    static func connectorYAML(baseURL: String, extra: String) -> String {
        """
        id: tour
        kind: amocrm
        base_url: \(baseURL)
        mapping: tour
        master_account: acc-tour
        auth:
          oauth:
            client_id: \(clientID)
            client_secret: \(clientSecret)
            redirect_uri: \(redirectURI)
            refresh_token: \(initialRefreshToken)
        webhook: {secret: \(webhookSecret)}
        poll: {interval: 1s, overlap: 2s}
        \(extra)
        """
    }

    static let masterDealYAML = """
        id: masterdeal
        kind: masterdeal
        base_url: http://127.0.0.1:9
        auth: {bearer_token: md-test-token}
        webhook: {secret: md-event-secret}
        """

    /// The mapping and the `tour` connector, loaded the way `serve` loads them.
    static func load(baseURL: String, extra: String = "") throws -> (ConnectorConfig, Mapping) {
        let configuration = try ConfigurationLoader(environment: [:]).load(
            connectors: [
                .init(path: "connectors/masterdeal.yaml", text: masterDealYAML),
                .init(path: "connectors/tour.yaml", text: connectorYAML(baseURL: baseURL, extra: extra)),
            ],
            mappings: [.init(path: "mappings/tour.yaml", text: mappingYAML)])
        let config = try requireValue(configuration.connector(connectorID), "the tour connector")
        let mapping = try requireValue(configuration.mapping(for: config), "the tour mapping")
        return (config, mapping)
    }

    /// An amoCRM account shaped by the mapping, with the tests' long-lived token.
    static func simulatorConfiguration(_ mapping: Mapping) -> AmoCRMSimulator.Configuration {
        var configuration = AmoCRMSimulator.Configuration(matching: mapping)
        configuration.longLivedTokens = [testToken]
        configuration.webhookTimeScale = 0.001
        configuration.seed = 11
        return configuration
    }

    static let logger = Logger(label: "amocrm-connector-tests", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A connector for the pure parts (`accept`, `decode`): it never calls its base URL.
    static func offlineConnector() throws -> AmoCRMConnector {
        let (config, mapping) = try load(baseURL: "http://127.0.0.1:9")
        return AmoCRMConnector(
            config: config, mapping: mapping, client: HTTPTransport.sharedClient, credentials: MemoryCredentialStore(), logger: logger)
    }
}

/// A simulated amoCRM account on loopback and the connector configuration pointing at it.
struct AmoHarness: Sendable {
    let simulator: AmoCRMSimulator
    let baseURL: String
    let config: ConnectorConfig
    let mapping: Mapping

    static func run<T: Sendable>(
        account: @Sendable (inout AmoCRMSimulator.Configuration) -> Void = { _ in },
        connectorYAML extra: String = "",
        _ body: @Sendable (AmoHarness) async throws -> T
    ) async throws -> T {
        let (_, mapping) = try AmoFixture.load(baseURL: "http://127.0.0.1:9")
        var configuration = AmoFixture.simulatorConfiguration(mapping)
        account(&configuration)
        let simulator = AmoCRMSimulator(configuration: configuration)
        return try await simulator.withRunning { url in
            let (config, mapping) = try AmoFixture.load(baseURL: url, extra: extra)
            return try await body(AmoHarness(simulator: simulator, baseURL: url, config: config, mapping: mapping))
        }
    }

    func connector(
        credentials: any CredentialStore = MemoryCredentialStore(), limiter: RateLimiter? = nil,
        checkpoint: (@Sendable (String) throws -> Void)? = nil
    ) -> AmoCRMConnector {
        AmoCRMConnector(
            config: config, mapping: mapping, client: HTTPTransport.sharedClient, credentials: credentials, limiter: limiter,
            logger: AmoFixture.logger, oauthCheckpoint: checkpoint)
    }

    /// A request with the tests' own token (counted by amoCRM's limit like any other).
    @discardableResult
    func api(
        _ method: HTTPMethod, _ path: String, json: String? = nil, token: String = AmoFixture.testToken
    ) async throws
        -> (status: Int, body: JSONValue?)
    {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        let bytes = try await response.body.collect(upTo: 1 << 24)
        return (Int(response.status.code), JSONValue.parse(Data(bytes.readableBytesView)))
    }

    /// How many requests amoCRM saw on a route, e.g. `"POST /oauth2/access_token"` (ids shown as `{id}`).
    func requests(_ route: String) -> Int { simulator.stats.requestsByRoute[route] ?? 0 }

    /// Creates leads in one API batch with the given fields as JSON members; returns their ids in order.
    func createLeads(_ elements: [String]) async throws -> [Int] {
        let (status, body) = try await api(.POST, "/api/v4/leads", json: "[" + elements.joined(separator: ",") + "]")
        guard status == 200, let leads = body?["_embedded"]?["leads"]?.array else {
            throw HarnessError("creating leads answered \(status)")
        }
        return leads.compactMap { $0["id"]?.int64.map(Int.init) }
    }

    /// Waits until `condition` holds, checking every 20 ms, for at most `timeout`.
    func eventually(_ what: String, timeout: Duration = .seconds(3), _ condition: @Sendable () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw HarnessError("timed out waiting until \(what)")
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// `#require` for values outside a test function.
func requireValue<T>(_ value: T?, _ what: String) throws -> T {
    guard let value else { throw HarnessError("missing \(what)") }
    return value
}

extension AmoCRMConnector {
    /// Decodes what `accept` made of a webhook, as the processor would once the row is stored.
    func decodeStored(_ item: InboxItem) throws -> DecodeOutcome {
        try decode(InboxRow(id: 1, item: item))
    }
}

extension DecodeOutcome {
    var observations: [Observation]? {
        if case .observations(let list) = self { return list }
        return nil
    }

    var fetchRequests: [FetchRequest]? {
        if case .fetch(let list) = self { return list }
        return nil
    }
}

extension DeliveryOutcome {
    /// Every text the outcome carries (details, reasons), for secret checks.
    var texts: [String] {
        switch self {
        case .delivered(let id, _): [id]
        case .retryable(_, _, let detail, _): [detail]
        case .permanent(_, _, let detail): [detail]
        case .stale: []
        case .paused(_, _, let reason): [reason]
        }
    }

    var errorClass: ErrorClass? {
        switch self {
        case .retryable(let c, _, _, _), .permanent(let c, _, _), .paused(let c, _, _): c
        case .delivered, .stale: nil
        }
    }
}
