/// Everything dealsync is configured with: the connectors and the mappings they sync by.
public struct Configuration: Sendable {
    public var connectors: [ConnectorConfig]
    public var mappings: [String: Mapping]

    public init(connectors: [ConnectorConfig], mappings: [String: Mapping]) {
        self.connectors = connectors
        self.mappings = mappings
    }

    /// The MasterDeal connector (validation guarantees there is exactly one).
    public var masterDeal: ConnectorConfig? { connectors.first { $0.kind == .masterdeal } }

    /// The CRM connectors, in file order.
    public var crmConnectors: [ConnectorConfig] { connectors.filter { $0.kind != .masterdeal } }

    public func connector(_ id: String) -> ConnectorConfig? { connectors.first { $0.id == id } }

    /// The mapping a CRM connector syncs by.
    public func mapping(for connector: ConnectorConfig) -> Mapping? {
        connector.mapping.flatMap { mappings[$0] }
    }
}
