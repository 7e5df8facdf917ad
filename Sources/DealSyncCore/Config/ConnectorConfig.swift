/// One connector instance, read from `connectors/<id>.yaml`.
public struct ConnectorConfig: Sendable {
    /// URL-safe id, unique across the configuration; it appears in webhook URLs, metrics and the database.
    public var id: String
    public var kind: ConnectorKind
    /// Where the API lives: the amoCRM account host, the Bitrix24 portal, the MasterDeal API root.
    public var baseURL: String
    /// The mapping this CRM connector syncs by (CRM kinds only).
    public var mapping: String?
    /// The MasterDeal account whose deals this CRM connector carries (CRM kinds only).
    public var masterAccount: String?
    public var auth: Auth
    public var webhook: WebhookAuth
    public var poll: Poll
    public var rateLimit: RateLimit
    public var delivery: Delivery
    public var reconcile: Reconcile
    /// MasterDeal's events from a Kafka topic, instead of or besides signed webhooks (MasterDeal only).
    public var events: KafkaEvents?
    /// How writes reach the connector (MasterDeal: its REST API, or canonical events on a Kafka topic).
    public var writes: Writes
    /// Every decided change, both ways, published as a `DealChangeDecided` event (MasterDeal only; optional).
    public var decisions: DecisionFeed?
    /// The file this came from and where its keys are, for cross-file diagnostics.
    public var file: String
    public var locations: [String: SourceLocation]

    public init(
        id: String, kind: ConnectorKind, baseURL: String, mapping: String? = nil, masterAccount: String? = nil,
        auth: Auth, webhook: WebhookAuth, poll: Poll = Poll(), rateLimit: RateLimit, delivery: Delivery? = nil,
        reconcile: Reconcile = Reconcile(), events: KafkaEvents? = nil, writes: Writes = .http, decisions: DecisionFeed? = nil,
        file: String = "<memory>", locations: [String: SourceLocation] = [:]
    ) {
        self.decisions = decisions
        self.reconcile = reconcile
        self.events = events
        self.writes = writes
        self.id = id
        self.kind = kind
        self.baseURL = baseURL
        self.mapping = mapping
        self.masterAccount = masterAccount
        self.auth = auth
        self.webhook = webhook
        self.poll = poll
        self.rateLimit = rateLimit
        self.delivery = delivery ?? Delivery.defaults(for: kind)
        self.file = file
        self.locations = locations
    }

    public func location(of key: String) -> SourceLocation {
        locations[key] ?? SourceLocation(file: file, line: 1, column: 1)
    }

    /// How dealsync authenticates to the connector's API.
    public enum Auth: Sendable {
        /// A static bearer token (MasterDeal service account, amoCRM long-lived token).
        case bearer(Secret)
        /// OAuth2 with a refresh-token grant (amoCRM, Bitrix24 apps).
        case oauth(OAuth)
        /// A Bitrix24 inbound webhook: `/rest/<user_id>/<code>/<method>`.
        case inboundWebhook(userID: Int, code: Secret)
    }

    public struct OAuth: Sendable {
        public var clientID: String
        public var clientSecret: Secret
        public var redirectURI: String?
        /// Where tokens are refreshed; defaults per kind (amoCRM: `<base>/oauth2/access_token`,
        /// Bitrix24: `https://oauth.bitrix.info/oauth/token/`).
        public var tokenURL: String?
        /// The first refresh token, used only until dealsync has stored one of its own.
        public var initialRefreshToken: Secret?

        public init(
            clientID: String, clientSecret: Secret, redirectURI: String? = nil, tokenURL: String? = nil,
            initialRefreshToken: Secret? = nil
        ) {
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.redirectURI = redirectURI
            self.tokenURL = tokenURL
            self.initialRefreshToken = initialRefreshToken
        }
    }

    /// How inbound webhooks prove they come from the connector's system.
    public enum WebhookAuth: Sendable {
        /// amoCRM signs nothing: the secret is the last segment of the webhook URL.
        case pathSecret(Secret)
        /// Bitrix24: `auth[application_token]`, and `auth[member_id]` / `auth[domain]` when set.
        case applicationToken(Secret, memberID: String?, domain: String?)
        /// MasterDeal: `X-Signature: t=<unix>,v1=<hex HMAC-SHA256>`; two secrets during a rotation.
        case hmac(secrets: [Secret], tolerance: Duration)
    }

    public struct Poll: Sendable {
        public var enabled: Bool
        public var interval: Duration
        /// How far back each poll re-reads before its watermark, so nothing at a boundary is skipped.
        public var overlap: Duration
        /// Where a connector that was never polled starts reading (`poll.start`).
        public var start: Start

        public init(enabled: Bool = true, interval: Duration = .seconds(60), overlap: Duration = .seconds(5), start: Start = .now) {
            self.enabled = enabled
            self.interval = interval
            self.overlap = overlap
            self.start = start
        }
    }

    /// How the reconciler compares this CRM with MasterDeal to find drift.
    public struct Reconcile: Sendable {
        public var enabled = true
        /// A difference must last this long, unexplained by work in flight, before it is drift.
        public var grace: Duration = .seconds(120)
        /// How often recently changed records are compared again.
        public var recheck: Duration = .seconds(30)
        /// How long after dealsync last touched a record it keeps being rechecked.
        public var recentWindow: Duration = .seconds(900)
        /// How often every linked record is compared.
        public var sweepInterval: Duration = .seconds(6 * 3600)
        /// The share of the CRM's request budget the reconciler may spend.
        public var budgetShare = 0.2

        public init() {}
    }

    /// The client-side limiter: a token bucket (`requests_per_second`, `burst`).
    ///
    /// amoCRM allows 7 requests/s per integration; Bitrix24 drains 2 requests/s with a bucket of 50
    /// (Enterprise 5/s and 250) shared by every caller of the portal, so dealsync's default bucket is 40.
    public struct RateLimit: Sendable {
        public var requestsPerSecond: Double
        public var burst: Int

        public init(requestsPerSecond: Double, burst: Int) {
            self.requestsPerSecond = requestsPerSecond
            self.burst = burst
        }

        public static func defaults(for kind: ConnectorKind) -> RateLimit {
            switch kind {
            case .amocrm: RateLimit(requestsPerSecond: 7, burst: 1)
            case .bitrix24: RateLimit(requestsPerSecond: 2, burst: 40)
            case .masterdeal: RateLimit(requestsPerSecond: 50, burst: 50)
            }
        }
    }

    /// How the relay delivers writes to this connector.
    public struct Delivery: Sendable {
        public var batchSize: Int
        public var maxAttempts: Int
        public var maxAge: Duration
        public var backoffBase: Duration
        public var backoffCap: Duration
        /// Consecutive target-level failures that open the circuit breaker.
        public var breakerThreshold: Int
        public var breakerCooldown: Duration
        /// Bound on one HTTP request, head and body.
        public var requestTimeout: Duration

        public init(
            batchSize: Int, maxAttempts: Int, maxAge: Duration, backoffBase: Duration, backoffCap: Duration,
            breakerThreshold: Int, breakerCooldown: Duration, requestTimeout: Duration
        ) {
            self.batchSize = batchSize
            self.maxAttempts = maxAttempts
            self.maxAge = maxAge
            self.backoffBase = backoffBase
            self.backoffCap = backoffCap
            self.breakerThreshold = breakerThreshold
            self.breakerCooldown = breakerCooldown
            self.requestTimeout = requestTimeout
        }

        public static func defaults(for kind: ConnectorKind) -> Delivery {
            switch kind {
            case .amocrm:
                Delivery(
                    batchSize: 50, maxAttempts: 10, maxAge: .seconds(24 * 3600), backoffBase: .seconds(1),
                    backoffCap: .seconds(300), breakerThreshold: 5, breakerCooldown: .seconds(30),
                    requestTimeout: .seconds(20))
            case .bitrix24:
                Delivery(
                    batchSize: 50, maxAttempts: 10, maxAge: .seconds(24 * 3600), backoffBase: .seconds(2),
                    backoffCap: .seconds(300), breakerThreshold: 5, breakerCooldown: .seconds(30),
                    requestTimeout: .seconds(60))
            case .masterdeal:
                // 50 writes a round (8 requests at a time): a round's outcomes are recorded in one transaction, and
                // against rounds of 20 that delivered 6,000 creates in 17 s instead of 20–22 (README, benchmarks).
                Delivery(
                    batchSize: 50, maxAttempts: 12, maxAge: .seconds(24 * 3600), backoffBase: .milliseconds(500),
                    backoffCap: .seconds(120), breakerThreshold: 5, breakerCooldown: .seconds(15),
                    requestTimeout: .seconds(10))
            }
        }
    }
}

extension ConnectorConfig {
    /// How to reach a Kafka cluster.
    public struct KafkaBus: Sendable {
        /// `host:port` of brokers to bootstrap from.
        public var brokers: [String]
        /// TLS to the brokers.
        public var tls: Bool
        public var sasl: SASL?
        /// Further librdkafka client properties, as given (`client_properties`).
        public var properties: [String: String]

        public init(brokers: [String], tls: Bool = false, sasl: SASL? = nil, properties: [String: String] = [:]) {
            self.brokers = brokers
            self.tls = tls
            self.sasl = sasl
            self.properties = properties
        }

        public struct SASL: Sendable {
            public enum Mechanism: String, Sendable, CaseIterable {
                case plain = "PLAIN"
                case scramSHA256 = "SCRAM-SHA-256"
                case scramSHA512 = "SCRAM-SHA-512"
            }

            public var mechanism: Mechanism
            public var username: String
            public var password: Secret

            public init(mechanism: Mechanism, username: String, password: Secret) {
                self.mechanism = mechanism
                self.username = username
                self.password = password
            }
        }

        /// The librdkafka properties that say all of this.
        public var clientProperties: [String: String] {
            var result = properties
            result["bootstrap.servers"] = brokers.joined(separator: ",")
            switch (tls, sasl) {
            case (false, nil): result["security.protocol"] = "plaintext"
            case (true, nil): result["security.protocol"] = "ssl"
            case (false, .some): result["security.protocol"] = "sasl_plaintext"
            case (true, .some): result["security.protocol"] = "sasl_ssl"
            }
            if let sasl {
                result["sasl.mechanisms"] = sasl.mechanism.rawValue
                result["sasl.username"] = sasl.username
                result["sasl.password"] = sasl.password.reveal()
            }
            return result
        }
    }

    /// MasterDeal's canonical events, consumed from a topic by every `serve` process as one consumer group.
    public struct KafkaEvents: Sendable {
        public var bus: KafkaBus
        public var topic: String
        public var group: String

        public init(bus: KafkaBus, topic: String, group: String = "dealsync") {
            self.bus = bus
            self.topic = topic
            self.group = group
        }
    }

    /// Where writes to a connector go.
    public enum Writes: Sendable {
        /// The connector's REST API (every connector).
        case http
        /// Canonical events on a Kafka topic, keyed by the MasterDeal deal id (MasterDeal only).
        case kafka(bus: KafkaBus, topic: String)

        public static let defaultTopic = "dealsync.crm-changes"
    }

    /// The decision feed: every change dealsync decides (to MasterDeal and to every CRM; a CRM record's link
    /// field written back is bookkeeping and left out) as a `DealChangeDecided` event on a topic of its own,
    /// through the outbox like any write.
    public struct DecisionFeed: Sendable {
        public var bus: KafkaBus
        public var topic: String

        public init(bus: KafkaBus, topic: String = DecisionFeed.defaultTopic) {
            self.bus = bus
            self.topic = topic
        }

        public static let defaultTopic = "dealsync.decisions"

        /// The outbox target of the feed of MasterDeal connector `master`.
        public static func target(of master: String) -> String { "\(master).decisions" }
    }
}
