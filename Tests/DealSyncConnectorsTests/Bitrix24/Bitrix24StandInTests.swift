import AsyncHTTPClient
import DealSyncConnectors
import DealSyncCore
import DealSyncSimulators
import DealSyncTestSupport
import Foundation
import Testing

/// A simulated portal standing in for an OAuth connector: the connector's own client and refresh token work, and
/// what it is told names no secret of the configuration.
struct Bitrix24StandInTests {
    typealias F = BitrixConnectorFixture

    static func configuration(refreshToken: String?, tokenURL: String) throws -> (ConnectorConfig, Mapping) {
        let refresh = refreshToken.map { "\n    refresh_token: \($0)" } ?? ""
        let yaml = F.connectorYAML("http://127.0.0.1:9").replacingOccurrences(
            of: "  webhook: {user_id: 1, code: x7k2m9q4w1e8r5t3}",
            with: """
                  oauth:
                    client_id: local.app.of-the-test
                    client_secret: secret-of-the-test-0042\(refresh)
                    token_url: \(tokenURL)
                """)
        let loaded = try ConfigurationLoader(environment: [:]).load(
            connectors: [.init(path: "c/fitness.yaml", text: yaml), .init(path: "c/md.yaml", text: F.master)],
            mappings: [.init(path: "m/fitness.yaml", text: F.mappingYAML)])
        let config = try #require(loaded.connector("fitness"))
        return (config, try #require(loaded.mapping(for: config)))
    }

    @Test func theConnectorsOwnOAuthApplicationWorksAgainstItsStandIn() async throws {
        let (template, mapping) = try Self.configuration(
            refreshToken: "refresh-of-the-test-0042", tokenURL: "https://oauth.bitrix.info/oauth/token/")
        let standIn = try Bitrix24Simulator.Configuration.standIn(for: template, mapping: mapping, gateway: "http://127.0.0.1:8080/")
        #expect(
            standIn.configuration.eventHandlers.allSatisfy { $0.url == "http://127.0.0.1:8080/webhooks/fitness" && $0.kind == .application }
        )
        #expect(standIn.configuration.applicationToken == F.token && standIn.configuration.webhooks.isEmpty)
        let simulator = Bitrix24Simulator(configuration: standIn.configuration)
        try await simulator.withRunning { url in
            let notes = standIn.notes(listeningOn: url).joined(separator: "\n")
            #expect(
                notes.contains("token_url must be \(url)/oauth/token/") && notes.contains("OAuth application local.app.of-the-test"),
                "\(notes)")
            #expect(
                !notes.contains("secret-of-the-test-0042") && !notes.contains("refresh-of-the-test-0042") && !notes.contains(F.token),
                "\(notes)")
            var (config, _) = try Self.configuration(refreshToken: "refresh-of-the-test-0042", tokenURL: url + "/oauth/token/")
            config.baseURL = url
            let connector = Bitrix24Connector(
                config: config, mapping: mapping, client: HTTPTransport.sharedClient, credentials: nil, logger: TestPostgres.logger)
            let report = try await connector.checkAccount()
            #expect(report.problems.isEmpty, "the portal has the mapping's shape: \(report.problems)")
            _ = try await connector.poll(from: nil)
            #expect(simulator.stats.tokenRefreshes == 1, "authenticated by refreshing the connector's own token")
        }
    }

    @Test func aRefreshTokenTheConfigurationLacksIsGeneratedAndShown() throws {
        let (config, mapping) = try Self.configuration(refreshToken: nil, tokenURL: "https://oauth.bitrix.info/oauth/token/")
        let standIn = try Bitrix24Simulator.Configuration.standIn(for: config, mapping: mapping, gateway: nil)
        let generated = standIn.configuration.oauth.refreshToken
        #expect(generated.hasPrefix("sim-b24-refresh-") && generated.count > 30)
        let notes = standIn.notes(listeningOn: "http://127.0.0.1:1").joined(separator: "\n")
        #expect(notes.contains(generated) && notes.contains("no event handler bound"), "\(notes)")
        #expect(throws: StandInError.self) {
            try AmoCRMSimulator.Configuration.standIn(for: config, mapping: mapping, gateway: nil)
        }
    }
}
