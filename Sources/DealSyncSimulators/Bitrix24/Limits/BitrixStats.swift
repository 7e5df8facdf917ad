/// What the simulated portal saw and did (`GET /_sim/stats`).
public struct BitrixStats: Sendable, Equatable, Codable {
    /// Every `/rest/` request, refused ones included (a batch counts once).
    public var requestsTotal = 0
    /// `crm.deal.list` → count, batch commands included.
    public var requestsByMethod: [String: Int] = [:]
    /// `"200"` → count.
    public var requestsByStatus: [String: Int] = [:]
    /// 503 `QUERY_LIMIT_EXCEEDED` from the leaky bucket (injected ones not included).
    public var queryLimitExceeded = 0
    /// 429 `OPERATION_TIME_LIMIT`, batch commands included.
    public var operationTimeLimited = 0
    /// The fullest the leaky bucket has been.
    public var bucketLevelMax: Double = 0
    public var batches = 0
    public var batchCommands = 0
    public var faultsInjected = 0
    public var redirects = 0
    public var tokenRefreshes = 0
    /// Delivery attempts (one per event and handler: Bitrix24 never retries).
    public var eventsSent = 0
    public var eventsSucceeded = 0
    public var eventsFailed = 0
    /// Events never sent because delivery was paused.
    public var eventsLost = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case requestsTotal = "requests_total"
        case requestsByMethod = "requests_by_method"
        case requestsByStatus = "requests_by_status"
        case queryLimitExceeded = "query_limit_exceeded"
        case operationTimeLimited = "operation_time_limited"
        case bucketLevelMax = "bucket_level_max"
        case batches
        case batchCommands = "batch_commands"
        case faultsInjected = "faults_injected"
        case redirects
        case tokenRefreshes = "token_refreshes"
        case eventsSent = "events_sent"
        case eventsSucceeded = "events_succeeded"
        case eventsFailed = "events_failed"
        case eventsLost = "events_lost"
    }
}
