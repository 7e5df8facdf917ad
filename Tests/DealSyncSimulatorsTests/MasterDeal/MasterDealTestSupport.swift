import AsyncHTTPClient
import DealSyncSimulators
import DealSyncTestSupport
import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

typealias MasterDealJSON = MasterDealSimulator.JSONValue

/// A real HTTP response, as a client of the simulator sees it.
struct MasterDealTestResponse: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: Data

    var json: MasterDealJSON {
        get throws { try MasterDealJSON.parse(body) }
    }

    var text: String { String(decoding: body, as: UTF8.self) }

    func header(_ name: String) -> String? { headers.first(name: name) }

    /// The problem `type` slug (after the last `/`), for error responses.
    var problemSlug: String? {
        (try? json)?["type"]?.stringValue?.split(separator: "/").last.map(String.init)
    }
}

/// Talks to a running simulator over loopback with AsyncHTTPClient.
struct MasterDealTestClient: Sendable {
    static let token = "test-token"

    let baseURL: String
    var token: String? = MasterDealTestClient.token

    func send(
        _ method: HTTPMethod, _ path: String, body: String? = nil,
        headers: [(String, String)] = []
    ) async throws -> MasterDealTestResponse {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        let bytes = try await response.body.collect(upTo: 4 << 20)
        return MasterDealTestResponse(
            status: Int(response.status.code), headers: response.headers,
            body: Data(bytes.readableBytesView))
    }

    func get(_ path: String) async throws -> MasterDealTestResponse {
        try await send(.GET, path)
    }

    /// A write with an `Idempotency-Key` (a fresh one unless given).
    func write(
        _ method: HTTPMethod, _ path: String, _ body: String, key: String = UUID().uuidString,
        headers: [(String, String)] = []
    ) async throws -> MasterDealTestResponse {
        try await send(method, path, body: body, headers: [("Idempotency-Key", key)] + headers)
    }

    /// Creates a deal through the API and answers its JSON.
    func create(stage: String = "lead", extra: String = "") async throws -> MasterDealJSON {
        let response = try await write(
            .POST, "/v1/deals",
            #"{"account_id":"acc-1","opportunity_name":"Tour to Sochi","stage":"\#(stage)""# + extra + "}")
        try #require(response.status == 201, "create failed: \(response.status) \(response.text)")
        return try response.json
    }
}

/// A configuration for tests: one known token, a fast event retry schedule.
func masterDealTestConfiguration(
    transitions: [String: [String]]? = nil, eventTargets: [MasterDealSimulator.EventTarget] = []
) -> MasterDealSimulator.Configuration {
    var configuration = MasterDealSimulator.Configuration()
    configuration.tokens = [MasterDealTestClient.token: "dealsync", "other-token": "billing"]
    configuration.transitions = transitions
    configuration.eventTargets = eventTargets
    configuration.eventTimeScale = 0.005
    configuration.eventTimeout = .seconds(2)
    return configuration
}

/// A clock tests move by hand, so many deals can share one `updated_at` millisecond.
final class MasterDealTestClock: Sendable {
    private let current: Mutex<Date>

    init(_ start: Date = Date(timeIntervalSince1970: 1_795_428_000.123)) { current = Mutex(start) }

    func now() -> Date { current.withLock { $0 } }

    func advance(by seconds: TimeInterval) { current.withLock { $0 += seconds } }
}

/// An event target: records every POST (headers and raw body) and fails the first `failures` with 500.
final class MasterDealEventReceiver: Sendable {
    struct Received: Sendable {
        var headers: [String: String]
        var body: Data
        var json: MasterDealJSON { get throws { try MasterDealJSON.parse(body) } }
    }

    private let received = Mutex<[Received]>([])
    private let failuresLeft: Mutex<Int>

    init(failFirst failures: Int = 0) { failuresLeft = Mutex(failures) }

    var requests: [Received] { received.withLock { $0 } }

    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/events") { request, _ -> HTTPResponse.Status in
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            self.received.withLock { $0.append(Received(headers: headers, body: Data(body.readableBytesView))) }
            let fail = self.failuresLeft.withLock { left -> Bool in
                defer { left = max(0, left - 1) }
                return left > 0
            }
            return fail ? .internalServerError : .ok
        }
        return router
    }

    /// Waits (up to `timeout`) until at least `count` requests arrived, then answers them all.
    func waitFor(_ count: Int, timeout: Duration = .seconds(3)) async throws -> [Received] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let all = requests
            if all.count >= count { return all }
            try await Task.sleep(for: .milliseconds(10))
        }
        return requests
    }

    /// Runs the receiver and a simulator whose event target is the receiver.
    func withSimulator<T: Sendable>(
        _ configuration: MasterDealSimulator.Configuration = masterDealTestConfiguration(), secret: String = "s3cret",
        _ body: @Sendable (MasterDealSimulator, MasterDealTestClient, String) async throws -> T
    ) async throws -> T {
        try await SimulatorHost.withRunning(router: makeRouter()) { receiverURL in
            var configuration = configuration
            configuration.eventTargets = [.init(url: receiverURL + "/events", secret: secret)]
            let simulator = MasterDealSimulator(configuration: configuration)
            return try await simulator.withRunning { baseURL in
                try await body(simulator, MasterDealTestClient(baseURL: baseURL), receiverURL + "/events")
            }
        }
    }
}
