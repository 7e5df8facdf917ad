import AsyncHTTPClient
import DealSyncConnectors
import DealSyncCore
import DealSyncKafka
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

    /// Builds the connector of every configured kind this build knows. With `metrics` (the gateway that delivers),
    /// a MasterDeal whose writes go to Kafka gets its producer; a producer that cannot be created (a bad
    /// `client_properties` value) leaves that connector's writes paused with the reason, logged.
    public convenience init(
        configuration: Configuration, client: HTTPClient, credentials: (any CredentialStore)?, logger: Logger,
        metrics: GatewayMetrics? = nil
    ) {
        self.init(
            connectors: configuration.connectors.compactMap { config in
                Self.build(config, in: configuration, client: client, credentials: credentials, logger: logger, metrics: metrics)
            })
    }

    /// The connector of `config`, deciding by its mapping in `configuration`; `nil` for a CRM connector without one.
    static func build(
        _ config: ConnectorConfig, in configuration: Configuration, client: HTTPClient, credentials: (any CredentialStore)?,
        logger: Logger, metrics: GatewayMetrics?
    ) -> (any Connector)? {
        var connectorLogger = logger
        connectorLogger[metadataKey: "connector"] = "\(config.id)"
        switch config.kind {
        case .masterdeal:
            var producer: KafkaProducer?
            if let metrics, case .kafka(let bus, let topic) = config.writes {
                do {
                    producer = try KafkaProducer(
                        properties: bus.clientProperties.merging(["client.id": "dealsync-\(config.id)"]) { $1 },
                        logger: connectorLogger)
                    metrics.registerKafka(connector: config.id, consumes: false, publishes: true)
                } catch {
                    connectorLogger.error("cannot start the Kafka producer", metadata: ["topic": "\(topic)", "error": "\(error)"])
                }
            }
            let id = config.id
            return MasterDealConnector(
                config: config, client: client, logger: connectorLogger, producer: producer,
                published: { [metrics] acknowledged, failed, seconds in
                    metrics?.kafkaPublished(id, acknowledged: acknowledged, failed: failed, seconds: seconds)
                })
        case .amocrm:
            guard let mapping = configuration.mapping(for: config) else { return nil }
            return AmoCRMConnector(
                config: config, mapping: mapping, client: client, credentials: credentials, logger: connectorLogger)
        case .bitrix24:
            guard let mapping = configuration.mapping(for: config) else { return nil }
            return Bitrix24Connector(
                config: config, mapping: mapping, client: client, credentials: credentials, logger: connectorLogger)
        }
    }

    public func connector(_ id: String) -> (any Connector)? { connectors[id] }

    /// The Kafka producers the connectors publish with.
    var producers: [KafkaProducer] { all.compactMap { ($0 as? MasterDealConnector)?.producer } }

    public var all: [any Connector] { order.compactMap { connectors[$0] } }

    /// The decoder the sync processor uses: each row goes to its own connector.
    public func decode(_ row: InboxRow) throws -> DecodeOutcome {
        guard let connector = connectors[row.item.connector] else {
            return .ignore("connector \(row.item.connector) is no longer configured")
        }
        return try connector.decode(row)
    }
}
