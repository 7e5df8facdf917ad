import DealSyncCore

extension Bitrix24Simulator.Configuration {
    /// A portal standing in for `connector` (a Bitrix24 connector) and its `mapping`: the connector's inbound
    /// webhook (user and code) or OAuth application (client and first refresh token), its application token,
    /// member id and domain, and, given the gateway's address, the deal events bound to the connector's URL
    /// (as the application's events for an OAuth connector, else as the portal's outgoing webhook). What the
    /// configuration lacks is generated.
    public static func standIn(
        for connector: ConnectorConfig, mapping: Mapping, gateway: String?
    ) throws(StandInError)
        -> ConnectorStandIn<Self>
    {
        guard connector.kind == .bitrix24 else {
            throw StandInError("connector \(connector.id) is of kind \(connector.kind.rawValue), not bitrix24")
        }
        var configuration = Self(matching: mapping)
        let stages = configuration.categories.reduce(0) { $0 + $1.stages.count }
        var accepts = [
            "portal shaped by mapping \(mapping.name): funnel \(mapping.pipeline) with \(stages) stages, "
                + "\(configuration.users.count) users, \(configuration.userFields.count) user fields, no deals"
        ]
        var tokenPath: String?
        var tokenURL: String?
        var isApplication = false
        switch connector.auth {
        case .inboundWebhook(let user, let code):
            configuration.webhooks = [.init(userID: user, code: code.reveal())]
            if !configuration.users.contains(where: { $0.id == user }) {
                configuration.users.append(
                    .init(id: user, name: "Интеграция", lastName: "Dealsync", email: "integration-\(user)@example.com"))
            }
            accepts.append("the inbound webhook /rest/\(user)/<auth.webhook.code of \(connector.file)>/ (not shown)")
            configuration.oauth.clientSecret = StandInSecrets.generate("sim-b24-")
        case .oauth(let client):
            isApplication = true
            configuration.webhooks = []
            configuration.oauth.clientID = client.clientID
            configuration.oauth.clientSecret = client.clientSecret.reveal()
            if let refresh = client.initialRefreshToken, !refresh.isEmpty {
                configuration.oauth.refreshToken = refresh.reveal()
                accepts.append(
                    "OAuth application \(client.clientID) with the client secret and refresh token of \(connector.file) (not shown)")
            } else {
                configuration.oauth.refreshToken = StandInSecrets.generate("sim-b24-refresh-")
                accepts.append(
                    "OAuth application \(client.clientID) with the client secret of \(connector.file) (not shown);"
                        + " it has no refresh_token: use the one this simulator issued, \(configuration.oauth.refreshToken)")
            }
            tokenPath = "/oauth/token/"
            tokenURL = client.tokenURL
        case .bearer:
            throw StandInError(
                "connector \(connector.id): Bitrix24 takes an inbound webhook (auth.webhook) or an OAuth application (auth.oauth)")
        }
        switch connector.webhook {
        case .applicationToken(let token, let memberID, let domain):
            configuration.applicationToken = token.reveal()
            if let memberID { configuration.memberID = memberID }
            if let domain {
                configuration.domain = domain
            } else if let host = StandInSecrets.host(of: connector.baseURL) {
                configuration.domain = host
            }
            accepts.append(
                "events carry auth[application_token] of \(connector.file) (not shown), member_id \(configuration.memberID), domain \(configuration.domain)"
            )
        default:
            configuration.applicationToken = StandInSecrets.generate("")
            accepts.append("events carry the application token this simulator generated, \(configuration.applicationToken)")
        }
        if let gateway {
            let url = "\(AmoCRMSimulator.Configuration.trimmed(gateway))/webhooks/\(connector.id)"
            configuration.eventHandlers = EventHandler.dealEvents(to: url, kind: isApplication ? .application : .outgoingWebhook)
            accepts.append(
                "deal events (ONCRMDEALADD, …UPDATE, …DELETE, …MOVETOCATEGORY) go to \(url) as \(isApplication ? "the application's" : "an outgoing webhook's")"
            )
        } else {
            accepts.append("no event handler bound (give the gateway's address to bind /webhooks/\(connector.id))")
        }
        return ConnectorStandIn(
            configuration: configuration, connector: connector.id, baseURL: connector.baseURL, accepts: accepts,
            tokenPath: tokenPath, configuredTokenURL: tokenURL)
    }
}
