import AsyncHTTPClient
import DealSyncCore
import DealSyncSimulators
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import Synchronization

/// Shared pieces of the Bitrix24 simulator tests: a configuration fit for tests, an HTTP client, JSON access.
enum BitrixTest {
    typealias Default = Bitrix24Simulator.Configuration.Default

    static let accessToken = "test-b24-access-token"
    static let refreshToken = "test-b24-refresh-token"
    /// The integration user's inbound webhook.
    static let hook = "/rest/\(Default.integrationUser)/\(Default.webhookCode)"

    /// The default fitness portal with a known access token and limits that never interfere.
    static func configuration() -> Bitrix24Simulator.Configuration {
        var configuration = Bitrix24Simulator.Configuration()
        configuration.oauth.accessToken = accessToken
        configuration.oauth.refreshToken = refreshToken
        configuration.limits = .unlimited
        return configuration
    }

    /// Runs a simulator and gives the test the simulator and a client.
    static func withSimulator<T: Sendable>(
        _ configuration: Bitrix24Simulator.Configuration = configuration(),
        _ body: @Sendable (Bitrix24Simulator, BitrixClient) async throws -> T
    ) async throws -> T {
        let simulator = Bitrix24Simulator(configuration: configuration)
        return try await simulator.withRunning { base in try await body(simulator, BitrixClient(base: base)) }
    }
}

/// What a Bitrix24 answer says.
extension WireReply {
    /// `result` as an object, a list of objects, or whatever it is.
    var result: Any? { object["result"] }
    var resultObject: [String: Any] { result as? [String: Any] ?? [:] }
    var resultList: [[String: Any]] { result as? [[String: Any]] ?? [] }
    var error: String? { object["error"] as? String }
    var errorDescription: String? { object["error_description"] as? String }
    var time: [String: Any] { object.bitrixObject("time") }
}

/// A minimal client speaking to the simulator over loopback.
struct BitrixClient: Sendable {
    let base: String

    /// POSTs a JSON body to the integration user's webhook.
    func call(_ method: String, json: String = "{}", prefix: String = BitrixTest.hook) async throws -> WireReply {
        try await send(.POST, "\(prefix)/\(method)", json: json)
    }

    /// POSTs a form body to the webhook.
    func call(_ method: String, form: String, prefix: String = BitrixTest.hook) async throws -> WireReply {
        try await send(.POST, "\(prefix)/\(method)", form: form)
    }

    /// GETs with a query string from the webhook.
    func call(_ method: String, query: String, prefix: String = BitrixTest.hook) async throws -> WireReply {
        try await send(.GET, "\(prefix)/\(method)?\(query)")
    }

    /// Calls as the OAuth application: `/rest/<method>` with `auth` in the JSON body.
    func app(_ method: String, json: String = "{}", token: String = BitrixTest.accessToken) async throws -> WireReply {
        let body =
            json.trimmingCharacters(in: .whitespaces) == "{}"
            ? "{\"auth\":\"\(token)\"}"
            : "{\"auth\":\"\(token)\"," + json.trimmingCharacters(in: .whitespaces).dropFirst()
        return try await send(.POST, "/rest/\(method)", json: body)
    }

    func send(_ method: HTTPMethod, _ path: String, json: String? = nil, form: String? = nil) async throws -> WireReply {
        try await WireReply.send(method, base + path, json: json, form: form)
    }

    func get(_ path: String) async throws -> WireReply { try await send(.GET, path) }
}

extension Dictionary where Key == String, Value == Any {
    func bitrixObject(_ key: String) -> [String: Any] { self[key] as? [String: Any] ?? [:] }
    func bitrixList(_ key: String) -> [[String: Any]] { self[key] as? [[String: Any]] ?? [] }
    func bitrixString(_ key: String) -> String? { self[key] as? String }
    func bitrixInt(_ key: String) -> Int? { self[key] as? Int }
}
