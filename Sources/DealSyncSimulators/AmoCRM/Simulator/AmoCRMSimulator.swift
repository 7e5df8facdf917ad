import Foundation
import Hummingbird
import ServiceLifecycle
import Synchronization

/// A faithful simulator of one amoCRM account: the API v4 subset dealsync uses (leads, pipelines, users,
/// custom fields, webhooks), OAuth2 with single-use refresh tokens, the 7 requests/s limit with its HTML 429
/// and blocking 403, and legacy v2 form-encoded webhooks with amoCRM's retry schedule.
///
/// Run it with ``withRunning(port:_:)`` (tests) or put ``makeRouter()`` and ``services`` in a server (CLI).
/// Control routes under `/_sim/` play the salesperson, the account administrator and the outages.
public final class AmoCRMSimulator: Sendable {
    public let configuration: Configuration
    /// Fault knobs (also `GET/PUT /_sim/faults`).
    public let faults: FaultInjector

    let catalog: AmoCatalog
    let book: Mutex<AmoLeadBook>
    let oauth: Mutex<AmoOAuth>
    let limiter: Mutex<AmoRateLimiter>
    /// The time the rate limiter reads.
    let limitClock = LimitClock()
    let requestStats = Mutex(AmoStats())
    let hub: AmoWebhookHub
    let sender: AmoWebhookSender
    let mint: AmoTokenMint
    private let flags: Mutex<Flags>

    struct Flags {
        var subscriptionExpired: Bool
        var clockOffset = 0
        /// Lead id → when `query` starts finding it.
        var searchableAt: [Int: ContinuousClock.Instant] = [:]
    }

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        let seed = configuration.seed ?? UInt64.random(in: 0...UInt64.max)
        let catalog = AmoCatalog(configuration)
        let now = Int(Date().timeIntervalSince1970)
        self.catalog = catalog
        faults = FaultInjector(configuration.faults)
        book = Mutex(AmoLeadBook(catalog: catalog, seed: seed))
        oauth = Mutex(AmoOAuth(configuration.oauth, longLivedTokens: configuration.longLivedTokens, now: Double(now)))
        limiter = Mutex(
            AmoRateLimiter(
                limit: configuration.requestsPerSecond, blockAfterViolations: configuration.blockAfterViolations,
                violationWindow: configuration.violationWindow))
        hub = AmoWebhookHub(
            catalog: catalog, destinations: configuration.webhooks, disableThreshold: configuration.hookDisableThreshold,
            timeScale: configuration.webhookTimeScale, seed: seed &+ 1, now: now)
        sender = AmoWebhookSender(
            hub: hub, timeout: configuration.webhookTimeout, timeScale: configuration.webhookTimeScale,
            clock: configuration.webhookRetryClock)
        mint = AmoTokenMint(
            clientID: configuration.oauth.clientID, accountID: configuration.accountID,
            userID: configuration.oauth.userID, subdomain: configuration.subdomain)
        flags = Mutex(Flags(subscriptionExpired: configuration.subscriptionExpired))
        seedLeads(configuration.seedLeads, now: now)
    }

    /// The webhook sender; run it next to the HTTP server.
    public var services: [any Service] { [sender] }

    /// The API v4 routes, the OAuth endpoint and the `/_sim/` control routes, behind amoCRM's edge.
    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: AmoEdgeMiddleware(simulator: self))
        addControlRoutes(to: router)
        addOAuthRoutes(to: router)
        addLeadRoutes(to: router)
        addAccountRoutes(to: router)
        return router
    }

    /// Runs the simulator on loopback with its webhook sender, gives `body` the base URL, then stops.
    public func withRunning<T: Sendable>(port: Int = 0, _ body: @Sendable (String) async throws -> T) async throws -> T {
        try await SimulatorHost.withRunning(router: makeRouter(), services: services, port: port, body)
    }

    // MARK: Clock

    /// The simulator's unix time in seconds (wall clock plus ``advanceClock(bySeconds:)``).
    public var now: Int { Int(Date().timeIntervalSince1970) + flags.withLock { $0.clockOffset } }

    /// Moves the simulator's clock forward: `updated_at`, token expiry and authorization codes follow it.
    public func advanceClock(bySeconds seconds: Int) {
        flags.withLock { $0.clockOffset += seconds }
    }

    /// Stops the time the rate limiter reads (real time otherwise, whatever ``advanceClock(bySeconds:)`` did): every
    /// request then arrives within the same second, however slowly it is sent.
    public func freezeLimitClock() { limitClock.freeze() }

    /// Lets the rate limiter's time run again from where it stood.
    public func unfreezeLimitClock() { limitClock.unfreeze() }

    /// Moves the rate limiter's time forward (its one-second window slides) without waiting for it.
    public func advanceLimitClock(by duration: Duration) { limitClock.advance(by: duration) }

    // MARK: Edge

    func admit() -> AmoRateLimiter.Verdict {
        let limitNow = limitClock.now
        return limiter.withLock { $0.admit(at: limitNow) }
    }

    func countRequest(method: String, path: String, status: Int, blockedAccount: Bool) {
        let route = AmoStats.routeKey(method: method, path: path)
        requestStats.withLock { $0.count(route: route, status: status, blockedAccount: blockedAccount) }
    }

    var subscriptionExpired: Bool {
        get { flags.withLock { $0.subscriptionExpired } }
        set { flags.withLock { $0.subscriptionExpired = newValue } }
    }

    // MARK: Writes (API and salesperson alike)

    func createLeads(_ writes: [AmoLeadWrite], actor: Int) -> Result<[AmoLead], AmoProblem> {
        let now = self.now
        let result = book.withLock { $0.create(writes, actor: actor, now: now) }
        if case .success(let leads) = result {
            let searchable = ContinuousClock.now + configuration.searchIndexLag
            flags.withLock { flags in for lead in leads { flags.searchableAt[lead.id] = searchable } }
            emit(leads.map { .added($0) })
        }
        return result
    }

    /// Stores a lead from the account's past, last changed at `updatedAt`, without a webhook.
    func storeHistoric(_ write: AmoLeadWrite, actor: Int, updatedAt: Int) -> Result<[AmoLead], AmoProblem> {
        let result = book.withLock { $0.create([write], actor: actor, now: updatedAt) }
        if case .success(let leads) = result {
            flags.withLock { flags in for lead in leads { flags.searchableAt[lead.id] = ContinuousClock.now } }
        }
        return result
    }

    func updateLeads(_ writes: [AmoLeadWrite], actor: Int) -> Result<[AmoLeadChange], AmoProblem> {
        let now = self.now
        let result = book.withLock { $0.update(writes, actor: actor, now: now) }
        if case .success(let changes) = result { emit(changes) }
        return result
    }

    func emit(_ changes: [AmoLeadChange]) {
        for delivery in hub.deliveries(for: changes) { sender.enqueue(delivery) }
    }

    /// Leads `query` cannot find yet (search index lag).
    func unsearchableLeads() -> Set<Int> {
        let now = ContinuousClock.now
        return flags.withLock { Set($0.searchableAt.filter { $0.value > now }.keys) }
    }

    private func seedLeads(_ seeds: [SeedLead], now: Int) {
        for seed in seeds {
            let fields = AmoLeadFields(
                name: seed.name, price: seed.price, statusID: seed.statusID, pipelineID: seed.pipelineID,
                responsibleUserID: seed.responsibleUserID, customFields: seed.customFields.mapValues { $0 },
                tags: seed.tags.isEmpty ? nil : seed.tags)
            var json = fields.json(catalog: catalog)
            if case .object(var members) = json {
                members += [("created_at", .int(now - seed.ageSeconds)), ("updated_at", .int(now - seed.ageSeconds))]
                json = .object(members)
            }
            let (write, issues) = AmoLeadWrite.parse(json, catalog: catalog)
            guard issues.isEmpty else { continue }  // a seed that does not fit the account is left out
            let actor = seed.responsibleUserID ?? configuration.oauth.userID
            _ = book.withLock { $0.create([write], actor: actor, now: now - seed.ageSeconds) }
        }
    }
}
