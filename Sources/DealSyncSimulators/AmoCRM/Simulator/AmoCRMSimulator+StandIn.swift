import DealSyncCore

extension AmoCRMSimulator.Configuration {
    /// An account standing in for `connector` (an amoCRM connector) and its `mapping`: the connector's OAuth client
    /// and first refresh token (or its long-lived token), and, given the gateway's address, the connector's webhook
    /// subscribed to every lead event. A refresh token the configuration lacks is generated.
    public static func standIn(
        for connector: ConnectorConfig, mapping: Mapping, gateway: String?
    ) throws(StandInError)
        -> ConnectorStandIn<Self>
    {
        guard connector.kind == .amocrm else {
            throw StandInError("connector \(connector.id) is of kind \(connector.kind.rawValue), not amocrm")
        }
        var accepts: [String] = []
        var oauth = AmoCRMSimulator.OAuth()
        var longLived: [String] = []
        var tokenPath: String?
        var tokenURL: String?
        switch connector.auth {
        case .oauth(let client):
            oauth.clientID = client.clientID
            oauth.clientSecret = client.clientSecret.reveal()
            if let redirect = client.redirectURI { oauth.redirectURI = redirect }
            if let refresh = client.initialRefreshToken, !refresh.isEmpty {
                oauth.refreshToken = refresh.reveal()
                accepts.append(
                    "OAuth client \(client.clientID) with the client secret, redirect_uri and refresh token of \(connector.file) (not shown)"
                )
            } else {
                oauth.refreshToken = StandInSecrets.generate("def50200-")
                accepts.append(
                    "OAuth client \(client.clientID) with the client secret and redirect_uri of \(connector.file) (not shown);"
                        + " it has no refresh_token: use the one this simulator issued, \(oauth.refreshToken)")
            }
            if let url = client.tokenURL {
                tokenPath = "/oauth2/access_token"
                tokenURL = url
            }
        case .bearer(let token):
            longLived = [token.reveal()]
            oauth.refreshToken = StandInSecrets.generate("def50200-")
            accepts.append("the long-lived token of \(connector.file) (not shown)")
        case .inboundWebhook:
            throw StandInError("connector \(connector.id): amoCRM has no inbound webhooks; use auth.oauth or auth.bearer_token")
        }
        var configuration = Self(
            matching: mapping, subdomain: StandInSecrets.firstLabel(of: connector.baseURL) ?? "touragency", oauth: oauth)
        configuration.longLivedTokens = longLived
        let statuses = configuration.pipelines.reduce(0) { $0 + $1.statuses.count }
        accepts.insert(
            "account \(configuration.subdomain) shaped by mapping \(mapping.name): \(configuration.pipelines.count) pipeline(s), "
                + "\(statuses) statuses, \(configuration.users.count) users, \(configuration.customFields.count) custom fields", at: 0)
        if case .pathSecret(let secret) = connector.webhook, let gateway {
            configuration.webhooks = ["\(Self.trimmed(gateway))/webhooks/\(connector.id)/\(secret.reveal())"]
            accepts.append(
                "lead events (add, update, status, responsible, delete, restore) go to \(Self.trimmed(gateway))/webhooks/\(connector.id)/<webhook.secret of \(connector.file)>"
            )
        } else {
            accepts.append("no webhook subscribed (give the gateway's address to subscribe /webhooks/\(connector.id)/<webhook.secret>)")
        }
        return ConnectorStandIn(
            configuration: configuration, connector: connector.id, baseURL: connector.baseURL, accepts: accepts,
            tokenPath: tokenPath, configuredTokenURL: tokenURL)
    }

    static func trimmed(_ url: String) -> String { url.hasSuffix("/") ? String(url.dropLast()) : url }
}
