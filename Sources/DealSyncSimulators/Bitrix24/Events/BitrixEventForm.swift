
/// The body Bitrix24 POSTs to a handler: `application/x-www-form-urlencoded`, bracket keys, every value a string,
/// and only the deal's id (`MOVETOCATEGORY` adds the new funnel and stage).
enum BitrixEventForm {
    /// What `auth[...]` carries besides the portal's identity.
    struct AppTokens: Sendable {
        var accessToken: String
        var refreshToken: String
        var expiresAt: Int
        var expiresIn: Int
        var scope: String
        var userID: Int
    }

    struct Portal: Sendable {
        var domain: String
        var clientEndpoint: String
        var memberID: String
        var applicationToken: String
        static let serverEndpoint = "https://oauth.bitrix.info/rest/"
    }

    /// `tokens` is `nil` for outgoing webhooks and for changes automation made.
    static func body(for change: BitrixDealChange, handlerID: Int, portal: Portal, tokens: AppTokens?, ts: Int) -> String {
        var pairs: [(String, String)] = [
            ("event", change.kind.eventName),
            ("event_handler_id", String(handlerID)),
            ("data[FIELDS][ID]", String(change.deal.id)),
        ]
        if change.kind == .movedToCategory {
            pairs.append(("data[FIELDS][CATEGORY_ID]", String(change.deal.categoryID)))
            pairs.append(("data[FIELDS][STAGE_ID]", change.deal.stageID))
        }
        pairs.append(("ts", String(ts)))
        if let tokens {
            pairs += [
                ("auth[access_token]", tokens.accessToken), ("auth[expires]", String(tokens.expiresAt)),
                ("auth[expires_in]", String(tokens.expiresIn)), ("auth[scope]", tokens.scope), ("auth[domain]", portal.domain),
                ("auth[server_endpoint]", Portal.serverEndpoint), ("auth[status]", "L"),
                ("auth[client_endpoint]", portal.clientEndpoint), ("auth[member_id]", portal.memberID),
                ("auth[user_id]", String(tokens.userID)), ("auth[refresh_token]", tokens.refreshToken),
                ("auth[application_token]", portal.applicationToken),
            ]
        } else {
            pairs += [
                ("auth[domain]", portal.domain), ("auth[client_endpoint]", portal.clientEndpoint),
                ("auth[server_endpoint]", Portal.serverEndpoint), ("auth[member_id]", portal.memberID),
                ("auth[application_token]", portal.applicationToken),
            ]
        }
        return QueryForm.build(pairs)
    }
}
