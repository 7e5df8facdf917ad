extension AmoCRMSimulator {
    /// Everything that makes one simulated amoCRM account; the defaults are a small tour agency
    /// (see ``Configuration/init()``).
    public struct Configuration: Sendable {
        /// Stands for `https://<subdomain>.amocrm.ru`.
        public var subdomain: String
        public var accountID: Int
        /// Statuses 142 (won) and 143 (lost) are added to every pipeline that lacks them.
        public var pipelines: [Pipeline]
        public var users: [User]
        public var customFields: [CustomField]
        public var lossReasons: [LossReason]
        public var oauth: OAuth
        /// Long-lived tokens: valid until ``AmoCRMSimulator`` revokes the integration, never refreshed.
        public var longLivedTokens: [String]

        /// amoCRM's limit per integration, counted over a sliding one-second window.
        public var requestsPerSecond: Int
        /// After this many 429s within ``violationWindow`` the account is blocked (403 on every call);
        /// `nil` never blocks.
        public var blockAfterViolations: Int?
        public var violationWindow: Duration
        /// amoCRM rejects batches above 250 elements.
        public var maxBatchSize: Int
        /// Batches larger than this answer 504 from the edge; `nil` never does.
        public var gatewayTimeoutBatchSize: Int?
        /// Whether a batch answered with 504 was written anyway (the backend finished after the edge gave up).
        public var gatewayTimeoutStillWrites: Bool
        /// Leads created less than this long ago are not yet found by `query` (search index lag).
        public var searchIndexLag: Duration
        /// Writes answer 402 while true (also `PUT /_sim/subscription`).
        public var subscriptionExpired: Bool

        /// Multiplies amoCRM's webhook retry delays (5 min, 15 min, 15 min, 1 h) and the 2 h failure window.
        public var webhookTimeScale: Double
        /// The clock the webhook sender waits on between retries; tests pass one they move by hand, to check the
        /// schedule without waiting for it. The 2 h failure window and the timeout keep real time.
        public var webhookRetryClock: any Clock<Duration>
        /// How long a receiver may take before the delivery counts as failed (2 s at amoCRM).
        public var webhookTimeout: Duration
        /// A hook is disabled after more than this many failed deliveries within the (scaled) 2 h window.
        public var hookDisableThreshold: Int
        /// Destinations subscribed from the start, to every lead event.
        public var webhooks: [String]

        public var seedLeads: [SeedLead]
        public var faults: FaultSettings
        /// Seeds lead ids, webhook key order and anything else random; `nil` is random.
        public var seed: UInt64?

        /// A small tour agency: two pipelines, three users, six custom fields, four seed leads.
        public init() {
            subdomain = "sunrisetours"
            accountID = 31_415_926
            pipelines = Self.defaultPipelines
            users = Self.defaultUsers
            customFields = Self.defaultCustomFields
            lossReasons = Self.defaultLossReasons
            oauth = OAuth()
            longLivedTokens = []
            requestsPerSecond = 7
            blockAfterViolations = 50
            violationWindow = .seconds(60)
            maxBatchSize = 250
            gatewayTimeoutBatchSize = nil
            gatewayTimeoutStillWrites = true
            searchIndexLag = .zero
            subscriptionExpired = false
            webhookTimeScale = 1
            webhookRetryClock = ContinuousClock()
            webhookTimeout = .seconds(2)
            hookDisableThreshold = 100
            webhooks = []
            seedLeads = Self.defaultSeedLeads
            faults = FaultSettings()
            seed = nil
        }
    }

    /// A pipeline (воронка) with its statuses in order. The simulated account puts an "unsorted" status (type 1) first
    /// in every pipeline configured without one, as amoCRM does.
    public struct Pipeline: Sendable, Equatable {
        public var id: Int
        public var name: String
        public var isMain: Bool
        public var statuses: [Status]

        public init(id: Int, name: String, isMain: Bool = false, statuses: [Status]) {
            self.id = id
            self.name = name
            self.isMain = isMain
            var statuses = statuses
            if !statuses.contains(where: { $0.id == Status.won }) {
                statuses.append(Status(id: Status.won, name: "Успешно реализовано", color: "#CCFF66", isEditable: false))
            }
            if !statuses.contains(where: { $0.id == Status.lost }) {
                statuses.append(Status(id: Status.lost, name: "Закрыто и не реализовано", color: "#D5D8DB", isEditable: false))
            }
            self.statuses = statuses
        }
    }

    public struct Status: Sendable, Equatable {
        /// Won and lost have these ids in every pipeline.
        public static let won = 142
        public static let lost = 143

        /// The "unsorted" status every pipeline starts with: leads from forms, calls and mail wait there.
        public static func unsorted(id: Int) -> Status {
            Status(id: id, name: "Неразобранное", color: "#c1c1c1", type: 1, isEditable: false)
        }

        public var id: Int
        public var name: String
        public var color: String
        /// 1 for the "unsorted" (неразобранное) status, else 0.
        public var type: Int
        public var isEditable: Bool

        public init(id: Int, name: String, color: String = "#99ccff", type: Int = 0, isEditable: Bool = true) {
            self.id = id
            self.name = name
            self.color = color
            self.type = type
            self.isEditable = isEditable
        }
    }

    public struct User: Sendable, Equatable {
        public var id: Int
        public var name: String
        public var email: String
        public var lang: String
        public var isAdmin: Bool
        public var groupID: Int

        public init(id: Int, name: String, email: String, lang: String = "ru", isAdmin: Bool = false, groupID: Int = 0) {
            self.id = id
            self.name = name
            self.email = email
            self.lang = lang
            self.isAdmin = isAdmin
            self.groupID = groupID
        }
    }

    public struct CustomField: Sendable, Equatable {
        /// amoCRM's field type names.
        public enum FieldType: String, Sendable, Equatable, CaseIterable {
            case text, textarea, numeric, checkbox, select, multiselect, radiobutton, date, url, birthday
            case dateTime = "date_time"
            /// Where the lead came from (`UTM_SOURCE`, `UTM_REFERRER`...): predefined in every account, filled by forms.
            case trackingData = "tracking_data"

            /// Types whose values are enum choices.
            var hasEnums: Bool { self == .select || self == .multiselect || self == .radiobutton }
            /// Types whose values are unix timestamps (sent bare in webhooks).
            var isDate: Bool { self == .date || self == .dateTime || self == .birthday }
        }

        public struct Enum: Sendable, Equatable {
            public var id: Int
            public var value: String
            public init(id: Int, value: String) {
                self.id = id
                self.value = value
            }
        }

        public var id: Int
        public var name: String
        public var type: FieldType
        public var code: String?
        public var enums: [Enum]

        public init(id: Int, name: String, type: FieldType, code: String? = nil, enums: [Enum] = []) {
            self.id = id
            self.name = name
            self.type = type
            self.code = code
            self.enums = enums
        }
    }

    public struct LossReason: Sendable, Equatable {
        public var id: Int
        public var name: String
        public init(id: Int, name: String) {
            self.id = id
            self.name = name
        }
    }

    /// The integration's OAuth2 client and the tokens it starts with.
    public struct OAuth: Sendable, Equatable {
        public var clientID: String
        public var clientSecret: String
        public var redirectURI: String
        /// A valid, unused refresh token at start.
        public var refreshToken: String
        /// An access token valid for ``accessTokenTTL`` from start, if any.
        public var accessToken: String?
        public var accessTokenTTL: Duration
        public var refreshTokenTTL: Duration
        /// Authorization codes accepted once each (20 minutes from start).
        public var authorizationCodes: [String]
        /// The user who installed the integration: tokens act as this user.
        public var userID: Int

        public init(
            clientID: String = "5f1c9a52-7d3e-4b8a-9c61-2e0d4f7b8a19",
            clientSecret: String = "sim-client-secret-0f4e8d2c7b6a",
            redirectURI: String = "https://dealsync.example/oauth/amocrm",
            refreshToken: String = "def50200-sim-initial-refresh-token",
            accessToken: String? = nil,
            accessTokenTTL: Duration = .seconds(86_400),
            refreshTokenTTL: Duration = .seconds(90 * 86_400),
            authorizationCodes: [String] = [],
            userID: Int = 9_100_001
        ) {
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.redirectURI = redirectURI
            self.refreshToken = refreshToken
            self.accessToken = accessToken
            self.accessTokenTTL = accessTokenTTL
            self.refreshTokenTTL = refreshTokenTTL
            self.authorizationCodes = authorizationCodes
            self.userID = userID
        }
    }

    /// A lead present from the start. Custom field values are given as text (select values by their label).
    public struct SeedLead: Sendable, Equatable {
        public var name: String
        public var price: Int
        public var pipelineID: Int?
        public var statusID: Int?
        public var responsibleUserID: Int?
        public var customFields: [Int: [String]]
        /// Seconds before start when the lead was created and last updated.
        public var ageSeconds: Int
        public var tags: [String]

        public init(
            name: String, price: Int = 0, pipelineID: Int? = nil, statusID: Int? = nil,
            responsibleUserID: Int? = nil, customFields: [Int: [String]] = [:], ageSeconds: Int = 3600,
            tags: [String] = []
        ) {
            self.name = name
            self.price = price
            self.pipelineID = pipelineID
            self.statusID = statusID
            self.responsibleUserID = responsibleUserID
            self.customFields = customFields
            self.ageSeconds = ageSeconds
            self.tags = tags
        }
    }
}
