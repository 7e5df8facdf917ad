import AsyncHTTPClient
import DealSyncConnectors
import DealSyncCore
import DealSyncSimulators
import DealSyncTestSupport
import Foundation
import Logging
import Testing

/// A Bitrix24 connector on the fitness mapping, against a simulator on loopback.
enum BitrixConnectorFixture {
    static let token = "q8m3v1x7c2n9b5z4k6j0h2g8f1d7s3a5"

    static let mappingYAML = """
        name: fitness
        crm: bitrix24
        pipeline: 2
        link_field: ORIGIN_ID
        fields:
          title: {master: opportunity_name, crm: TITLE}
          amount: {master: amount, crm: OPPORTUNITY, transform: money, conflict: {priority: master}}
          stage: {master: stage, crm: STAGE_ID, transform: stage, conflict: {priority: master}}
          owner: {master: owner_id, crm: ASSIGNED_BY_ID, transform: owner}
          program: {master: attributes.program, crm: UF_CRM_PROGRAM, transform: {enum: {personal: "41", group: "42", online: "43"}}}
        """ + "\n" + FitnessFixture.stagesAndOwners

    static func connectorYAML(_ url: String, extra: String = "") -> String {
        FitnessFixture.connector(
            url: url, token: token, memberID: "6a1f0e3c9b27d84f5e2a7c19d03b8e64", extra: ["poll: {interval: 1s, overlap: 2s}", extra])
    }

    static let master = """
        id: masterdeal
        kind: masterdeal
        base_url: http://127.0.0.1:9
        auth: {bearer_token: t}
        webhook: {secret: s}
        """

    static func connector(
        url: String, extra: String = "", client: HTTPClient = HTTPTransport.sharedClient, pacing: PacingClock = .continuous
    ) throws
        -> Bitrix24Connector
    {
        let configuration = try ConfigurationLoader(environment: [:]).load(
            connectors: [.init(path: "c/fitness.yaml", text: connectorYAML(url, extra: extra)), .init(path: "c/md.yaml", text: master)],
            mappings: [.init(path: "m/fitness.yaml", text: mappingYAML)])
        let config = configuration.connector("fitness")!
        return Bitrix24Connector(
            config: config, mapping: configuration.mapping(for: config)!, client: client, credentials: nil,
            logger: TestPostgres.logger, pacing: pacing)
    }

    /// The fitness connector as the portal's OAuth application, refreshing at the simulator's token endpoint and
    /// keeping its tokens in `credentials` (in memory when nil); `checkpoint` is the refresh's crash hook.
    static func application(
        url: String, credentials: (any CredentialStore)? = nil, checkpoint: (@Sendable (String) throws -> Void)? = nil,
        pacing: PacingClock = .continuous
    ) throws -> Bitrix24Connector {
        let oauth = Bitrix24Simulator.OAuth()
        let yaml = connectorYAML(url).replacingOccurrences(
            of: "  webhook: {user_id: 1, code: x7k2m9q4w1e8r5t3}",
            with: """
                  oauth:
                    client_id: \(oauth.clientID)
                    client_secret: \(oauth.clientSecret)
                    refresh_token: \(oauth.refreshToken)
                    token_url: \(url)/oauth/token/
                """)
        let configuration = try ConfigurationLoader(environment: [:]).load(
            connectors: [.init(path: "c/fitness.yaml", text: yaml), .init(path: "c/md.yaml", text: master)],
            mappings: [.init(path: "m/fitness.yaml", text: mappingYAML)])
        let config = try #require(configuration.connector("fitness"))
        let mapping = try #require(configuration.mapping(for: config))
        guard case .oauth = config.auth else { throw ConnectorError("the test connector must use OAuth") }
        return Bitrix24Connector(
            config: config, mapping: mapping, client: HTTPTransport.sharedClient, credentials: credentials, logger: TestPostgres.logger,
            oauthCheckpoint: checkpoint, pacing: pacing)
    }

    static func simulator(_ change: (inout Bitrix24Simulator.Configuration) -> Void = { _ in }) -> Bitrix24Simulator {
        var configuration = Bitrix24Simulator.Configuration()
        configuration.seedDeals = []
        change(&configuration)
        return Bitrix24Simulator(configuration: configuration)
    }

    /// Polls until the cursor says there is no more, returning every item.
    static func pollAll(_ connector: Bitrix24Connector, cursor: inout String?) async throws -> [InboxItem] {
        var items: [InboxItem] = []
        repeat {
            let result = try await connector.poll(from: cursor)
            items += result.items
            cursor = result.cursor
            if !result.hasMore { return items }
        } while true
    }
}
