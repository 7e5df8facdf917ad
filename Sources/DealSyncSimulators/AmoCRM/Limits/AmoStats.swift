/// What the simulated amoCRM saw and did (`GET /_sim/stats`).
public struct AmoStats: Sendable, Equatable, Codable {
    public var requestsTotal = 0
    /// `"GET /api/v4/leads/{id}"` → count (numeric path segments shown as `{id}`).
    public var requestsByRoute: [String: Int] = [:]
    /// `"200"` → count.
    public var requestsByStatus: [String: Int] = [:]
    /// 429 answers (rate limit and injected).
    public var rateLimited = 0
    /// 403 answers while the account was blocked.
    public var blocked = 0
    /// The most API requests that arrived within any one second.
    public var maxRequestsInOneSecond = 0
    public var tokenRefreshes = 0
    public var webhookAttempts = 0
    public var webhooksSucceeded = 0
    public var webhooksFailed = 0
    /// Webhooks never sent or abandoned because delivery was paused or the hook disabled.
    public var webhooksLost = 0
    public var hooksDisabled = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case requestsTotal = "requests_total"
        case requestsByRoute = "requests_by_route"
        case requestsByStatus = "requests_by_status"
        case rateLimited = "rate_limited"
        case blocked
        case maxRequestsInOneSecond = "max_requests_in_one_second"
        case tokenRefreshes = "token_refreshes"
        case webhookAttempts = "webhook_attempts"
        case webhooksSucceeded = "webhooks_succeeded"
        case webhooksFailed = "webhooks_failed"
        case webhooksLost = "webhooks_lost"
        case hooksDisabled = "hooks_disabled"
    }

    /// `GET /api/v4/leads/123` → `GET /api/v4/leads/{id}`.
    static func routeKey(method: String, path: String) -> String {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            !segment.isEmpty && segment.allSatisfy(\.isNumber) ? "{id}" : String(segment)
        }
        return "\(method) \(segments.joined(separator: "/"))"
    }

    mutating func count(route: String, status: Int, blockedAccount: Bool) {
        requestsTotal += 1
        requestsByRoute[route, default: 0] += 1
        requestsByStatus[String(status), default: 0] += 1
        if status == 429 { rateLimited += 1 }
        if status == 403, blockedAccount { blocked += 1 }
    }
}
