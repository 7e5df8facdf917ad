extension Bitrix24Simulator {
    /// Everything that makes one simulated Bitrix24 portal; the defaults are a fitness coach's portal
    /// (see ``Configuration/init()`` and ``Configuration/Default``).
    public struct Configuration: Sendable {
        /// The portal's address (`<domain>/rest/...`); events and OAuth answers carry it.
        public var domain: String
        /// The portal's 32-hex-digit id, sent as `auth[member_id]` with every event.
        public var memberID: String
        /// Sent as `auth[application_token]` with every event; handlers compare it with the stored one.
        public var applicationToken: String
        /// `auth[client_endpoint]` in events and OAuth answers; `https://<domain>/rest/` when `nil`.
        public var clientEndpoint: String?
        /// The portal's UTC offset: `DATE_MODIFY` and every other date is written in it.
        public var timeZoneOffsetSeconds: Int
        /// Currency of new deals and the currencies `CURRENCY_ID` accepts.
        public var currency: String
        public var currencies: [String]

        /// Funnels with their stages. Funnel 0 (the default one) is added when missing.
        public var categories: [Category]
        public var users: [User]
        public var userFields: [UserField]
        /// Inbound webhooks (`/rest/<user_id>/<code>/<method>`).
        public var webhooks: [InboundWebhook]
        /// The one OAuth application installed on the portal (`/rest/<method>?auth=<token>`).
        public var oauth: OAuth
        public var limits: Limits
        /// Event handlers present from the start: outgoing webhooks set up in the UI, or an app's bindings.
        public var eventHandlers: [EventHandler]
        public var eventDelivery: EventDelivery

        public var seedDeals: [SeedDeal]
        /// The id the first deal gets; ids then grow by one.
        public var firstDealID: Int
        public var faults: FaultSettings
        /// While set, every `/rest/` call answers 302 with `Location: <movedTo><path>?<query>` (a moved portal).
        public var movedTo: String?
        /// The application's subscription has ended (see ``Bitrix24Simulator/subscriptionEnded``).
        public var subscriptionEnded: Bool
        /// The portal's commercial plan has ended (see ``Bitrix24Simulator/commercialPlanEnded``).
        public var commercialPlanEnded: Bool

        /// A fitness coach's portal: funnel 2 "Клиенты", three users, three user fields, five seed deals.
        public init() {
            domain = "fitcoach.bitrix24.ru"
            memberID = "6a1f0e3c9b27d84f5e2a7c19d03b8e64"
            applicationToken = "q8m3v1x7c2n9b5z4k6j0h2g8f1d7s3a5"
            clientEndpoint = nil
            timeZoneOffsetSeconds = 3 * 3600
            currency = "RUB"
            currencies = ["RUB", "USD", "EUR", "KZT", "BYN"]
            categories = Self.defaultCategories
            users = Self.defaultUsers
            userFields = Self.defaultUserFields
            webhooks = [InboundWebhook(userID: Default.integrationUser, code: Default.webhookCode)]
            oauth = OAuth()
            limits = Limits()
            eventHandlers = []
            eventDelivery = EventDelivery()
            seedDeals = Self.defaultSeedDeals
            firstDealID = 101
            faults = FaultSettings()
            movedTo = nil
            subscriptionEnded = false
            commercialPlanEnded = false
        }

        /// `https://<domain>/rest/` unless configured otherwise.
        public var resolvedClientEndpoint: String { clientEndpoint ?? "https://\(domain)/rest/" }
    }

    /// An inbound webhook: the secret code in the path acts as the given user.
    public struct InboundWebhook: Sendable, Equatable {
        public var userID: Int
        public var code: String

        public init(userID: Int, code: String) {
            self.userID = userID
            self.code = code
        }
    }

    /// The installed application's OAuth client and the tokens it starts with.
    public struct OAuth: Sendable, Equatable {
        public var clientID: String
        public var clientSecret: String
        /// A valid, unused refresh token at start.
        public var refreshToken: String
        /// An access token valid for ``accessTokenTTL`` from start, if any.
        public var accessToken: String?
        /// One hour at Bitrix24.
        public var accessTokenTTL: Duration
        /// 180 days at Bitrix24.
        public var refreshTokenTTL: Duration
        /// The user who installed the application: its tokens act as this user.
        public var userID: Int
        public var scope: String

        public init(
            clientID: String = "local.6745a1c2b3d4e5.27182818",
            clientSecret: String = "sim-b24-client-secret-4fK9pQ2mX7",
            refreshToken: String = "sim-b24-initial-refresh-token",
            accessToken: String? = nil,
            accessTokenTTL: Duration = .seconds(3600),
            refreshTokenTTL: Duration = .seconds(180 * 86_400),
            userID: Int = 1,
            scope: String = "crm,user"
        ) {
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.refreshToken = refreshToken
            self.accessToken = accessToken
            self.accessTokenTTL = accessTokenTTL
            self.refreshTokenTTL = refreshTokenTTL
            self.userID = userID
            self.scope = scope
        }
    }

    /// An event subscription present from the start.
    public struct EventHandler: Sendable, Equatable {
        public enum Kind: String, Sendable, Equatable {
            /// Set up in the UI: events carry no access token.
            case outgoingWebhook
            /// Bound by the application: events carry `auth[access_token]` and friends (unless automation acted).
            case application
        }

        public var event: String
        public var url: String
        public var kind: Kind

        public init(event: String, url: String, kind: Kind = .outgoingWebhook) {
            self.event = event.uppercased()
            self.url = url
            self.kind = kind
        }

        /// The four deal events to one URL.
        public static func dealEvents(to url: String, kind: Kind = .outgoingWebhook) -> [EventHandler] {
            BitrixDealChange.Kind.allCases.map { EventHandler(event: $0.eventName, url: url, kind: kind) }
        }
    }

    /// How events leave the portal. Bitrix24 queues them, never retries, and deprioritises slow handlers.
    public struct EventDelivery: Sendable, Equatable {
        /// The queue server's delay before the first (and only) attempt.
        public var queueDelay: Duration
        /// How long a handler may take before the attempt counts as failed.
        public var timeout: Duration
        /// A handler that answers slower than this is deprioritised from then on.
        public var slowResponseThreshold: Duration
        /// Extra delay before every event to a deprioritised handler.
        public var deprioritisedDelay: Duration

        public init(
            queueDelay: Duration = .zero, timeout: Duration = .seconds(5),
            slowResponseThreshold: Duration = .seconds(2), deprioritisedDelay: Duration = .seconds(30)
        ) {
            self.queueDelay = queueDelay
            self.timeout = timeout
            self.slowResponseThreshold = slowResponseThreshold
            self.deprioritisedDelay = deprioritisedDelay
        }
    }

    /// A deal present from the start. Values are written as a salesperson would type them.
    public struct SeedDeal: Sendable, Equatable {
        /// `crm.deal.add` fields (`TITLE`, `CATEGORY_ID`, `STAGE_ID`, `OPPORTUNITY`, `UF_CRM_*`...).
        public var fields: [String: String]
        /// The salesperson who created it.
        public var createdBy: Int
        /// Seconds before start when it was created and last modified.
        public var ageSeconds: Int

        public init(fields: [String: String], createdBy: Int, ageSeconds: Int = 3600) {
            self.fields = fields
            self.createdBy = createdBy
            self.ageSeconds = ageSeconds
        }
    }
}
