import AsyncHTTPClient
import DealSyncSimulators
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import Synchronization

/// Shared pieces of the amoCRM simulator tests: a configuration fit for tests, an HTTP client, JSON access.
enum Amo {
    typealias Default = AmoCRMSimulator.Configuration.Default

    static let accessToken = "test-access-token"
    static let refreshToken = "test-refresh-token"

    /// The default tour agency with a known access token and a limit high enough not to interfere.
    static func configuration(seed: UInt64 = 42) -> AmoCRMSimulator.Configuration {
        var configuration = AmoCRMSimulator.Configuration()
        configuration.oauth.accessToken = accessToken
        configuration.oauth.refreshToken = refreshToken
        configuration.requestsPerSecond = 10_000
        configuration.blockAfterViolations = nil
        configuration.seed = seed
        return configuration
    }

    /// Runs a simulator and gives the test the simulator, its base URL and a client.
    static func withSimulator<T: Sendable>(
        _ configuration: AmoCRMSimulator.Configuration = configuration(),
        _ body: @Sendable (AmoCRMSimulator, AmoClient) async throws -> T
    ) async throws -> T {
        let simulator = AmoCRMSimulator(configuration: configuration)
        return try await simulator.withRunning { base in
            try await body(simulator, AmoClient(base: base))
        }
    }
}

/// A minimal client speaking to the simulator over loopback.
struct AmoClient: Sendable {
    let base: String

    func send(
        _ method: HTTPMethod, _ path: String, json: String? = nil, form: String? = nil,
        token: String? = Amo.accessToken
    ) async throws -> WireReply {
        try await WireReply.send(
            method, base + path, json: json, form: form, headers: token.map { [("Authorization", "Bearer \($0)")] } ?? [])
    }

    func get(_ path: String, token: String? = Amo.accessToken) async throws -> WireReply {
        try await send(.GET, path, token: token)
    }
}

extension Dictionary where Key == String, Value == Any {
    func jsonObject(_ key: String) -> [String: Any] { self[key] as? [String: Any] ?? [:] }
    func jsonArray(_ key: String) -> [[String: Any]] { self[key] as? [[String: Any]] ?? [] }
    func jsonInt(_ key: String) -> Int? { self[key] as? Int }
    func jsonString(_ key: String) -> String? { self[key] as? String }
}
