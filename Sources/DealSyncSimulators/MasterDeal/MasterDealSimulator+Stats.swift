extension MasterDealSimulator {
    /// Counters for assertions, benchmarks and the demo (`GET /_sim/stats`).
    public struct Stats: Sendable, Codable, Equatable {
        /// "METHOD /route/template" → status code → count, for API requests (not `/_sim/`).
        public var requests: [String: [String: Int]]
        /// API writes that changed something (creates, effective patches, notes).
        public var writesApplied: Int
        /// Changes made through the control routes (`masterdeal-ui`).
        public var userWrites: Int
        /// Writes answered from the idempotency store.
        public var idempotentReplays: Int
        public var deals: Int
        /// Events recorded, whether delivered or dropped.
        public var eventsEmitted: Int
        /// Events not sent because events were paused.
        public var eventsDropped: Int
        /// Delivery attempts a target answered with 2xx.
        public var eventsSent: Int
        /// Delivery attempts that failed (non-2xx, network error or timeout).
        public var eventAttemptsFailed: Int
        /// Deliveries given up after the last retry.
        public var eventsFailed: Int
        /// Deliveries queued or waiting for a retry.
        public var eventsPending: Int

        /// The number of requests to `route` ("GET /v1/deals/{id}") answered with `status`.
        public func requests(_ route: String, status: Int) -> Int {
            requests[route]?[String(status)] ?? 0
        }

        enum CodingKeys: String, CodingKey {
            case requests
            case writesApplied = "writes_applied"
            case userWrites = "user_writes"
            case idempotentReplays = "idempotent_replays"
            case deals
            case eventsEmitted = "events_emitted"
            case eventsDropped = "events_dropped"
            case eventsSent = "events_sent"
            case eventAttemptsFailed = "event_attempts_failed"
            case eventsFailed = "events_failed"
            case eventsPending = "events_pending"
        }
    }
}
