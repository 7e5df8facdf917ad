import AsyncHTTPClient
import DealSyncConnectors
import DealSyncCore
import Foundation
import Logging

/// The configured connectors, built once and shared by routes and services.
public final class ConnectorRegistry: Sendable {
    public let connectors: [String: any Connector]
    public let order: [String]

    public init(connectors: [any Connector]) {
        self.connectors = Dictionary(connectors.map { ($0.config.id, $0) }, uniquingKeysWith: { first, _ in first })
        self.order = connectors.map(\.config.id)
    }

    /// Builds the connector of every configured kind this build knows.
    public convenience init(configuration: Configuration, client: HTTPClient, credentials: (any CredentialStore)?, logger: Logger) {
        var built: [any Connector] = []
        for config in configuration.connectors {
            var connectorLogger = logger
            connectorLogger[metadataKey: "connector"] = "\(config.id)"
            switch config.kind {
            case .masterdeal:
                built.append(MasterDealConnector(config: config, client: client, logger: connectorLogger))
            case .amocrm:
                guard let mapping = configuration.mapping(for: config) else { continue }
                built.append(AmoCRMConnector(config: config, mapping: mapping, client: client, credentials: credentials,
                                             logger: connectorLogger))
            case .bitrix24:
                guard let mapping = configuration.mapping(for: config) else { continue }
                built.append(Bitrix24Connector(config: config, mapping: mapping, client: client, credentials: credentials,
                                               logger: connectorLogger))
            }
        }
        self.init(connectors: built)
    }

    public func connector(_ id: String) -> (any Connector)? { connectors[id] }

    public var all: [any Connector] { order.compactMap { connectors[$0] } }

    /// The decoder the sync processor uses: each row goes to its own connector.
    public func decode(_ row: InboxRow) throws -> DecodeOutcome {
        guard let connector = connectors[row.item.connector] else {
            return .ignore("connector \(row.item.connector) is no longer configured")
        }
        return try connector.decode(row)
    }
}
