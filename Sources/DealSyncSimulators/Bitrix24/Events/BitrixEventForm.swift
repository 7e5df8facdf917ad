/// The body Bitrix24 POSTs to a handler: `application/x-www-form-urlencoded`, bracket keys, every value a string,
/// and only the deal's id (`MOVETOCATEGORY` adds the new funnel and stage).
///
/// Two shapes: an outgoing webhook (set up in the portal's UI) gets `event`, `data`, `ts` and `auth` with the portal's
/// identity — no `event_handler_id`; an application's handler gets `event_handler_id` too and, unless automation
/// made the change, an access token with its expiry, scope and user — never a refresh token.
enum BitrixEventForm {
    /// What `auth[...]` carries for an application besides the portal's identity.
    struct AppTokens: Sendable {
        var accessToken: String
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

    /// Who receives the event.
    enum Recipient: Sendable {
        case outgoingWebhook
        /// `tokens` is `nil` when automation made the change.
        case application(handlerID: Int, tokens: AppTokens?)
    }

    static func body(for change: BitrixDealChange, to recipient: Recipient, portal: Portal, ts: Int) -> String {
        var pairs: [(String, String)] = [("event", change.kind.eventName)]
        if case .application(let handlerID, _) = recipient { pairs.append(("event_handler_id", String(handlerID))) }
        pairs.append(("data[FIELDS][ID]", String(change.deal.id)))
        if change.kind == .movedToCategory {
            pairs.append(("data[FIELDS][CATEGORY_ID]", String(change.deal.categoryID)))
            pairs.append(("data[FIELDS][STAGE_ID]", change.deal.stageID))
        }
        pairs.append(("ts", String(ts)))
        if case .application(_, let tokens?) = recipient {
            pairs += [
                ("auth[access_token]", tokens.accessToken), ("auth[expires]", String(tokens.expiresAt)),
                ("auth[expires_in]", String(tokens.expiresIn)), ("auth[scope]", tokens.scope), ("auth[domain]", portal.domain),
                ("auth[server_endpoint]", Portal.serverEndpoint), ("auth[status]", "L"),
                ("auth[client_endpoint]", portal.clientEndpoint), ("auth[member_id]", portal.memberID),
                ("auth[user_id]", String(tokens.userID)), ("auth[application_token]", portal.applicationToken),
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
