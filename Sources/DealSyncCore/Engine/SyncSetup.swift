/// The decision engines of one configuration: the MasterDeal connector and, per CRM connector, its decider.
public struct SyncSetup: Sendable {
    public struct Lane: Sendable {
        public var connector: String
        public var decider: RecordDecider
        /// The MasterDeal account whose deals live in this CRM (`nil`: every account).
        public var masterAccount: String?

        public var mapping: Mapping { decider.mapping }

        public init(connector: String, decider: RecordDecider, masterAccount: String?) {
            self.connector = connector
            self.decider = decider
            self.masterAccount = masterAccount
        }

        /// Whether a MasterDeal deal of `account` belongs in this CRM.
        public func carries(account: String?) -> Bool {
            guard let masterAccount else { return true }
            return account == masterAccount
        }
    }

    public var masterConnector: String
    public var lanes: [Lane]
    /// The outbox target of the decision feed, when it is configured: every decided write is also published there.
    public var decisionFeed: String?

    public init(masterConnector: String, lanes: [Lane], decisionFeed: String? = nil) {
        self.masterConnector = masterConnector
        self.lanes = lanes
        self.decisionFeed = decisionFeed
    }

    /// Builds the lanes of a validated configuration.
    public init(configuration: Configuration) {
        let master = configuration.masterDeal?.id ?? "masterdeal"
        self.masterConnector = master
        self.decisionFeed = configuration.masterDeal?.decisions.map { _ in ConnectorConfig.DecisionFeed.target(of: master) }
        self.lanes = configuration.crmConnectors.compactMap { connector in
            guard let mapping = configuration.mapping(for: connector) else { return nil }
            return Lane(
                connector: connector.id,
                decider: RecordDecider(mapping: mapping, crmConnector: connector.id, masterConnector: master),
                masterAccount: connector.masterAccount)
        }
    }

    public func lane(_ connector: String) -> Lane? { lanes.first { $0.connector == connector } }
}
