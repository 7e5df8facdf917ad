import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// A faithful simulator of one Bitrix24 portal: the REST methods dealsync uses (`crm.deal.*`, funnels, stages,
/// users, user fields, `batch`, `event.*`), inbound webhooks and OAuth with single-use refresh tokens, the leaky
/// bucket (503 `QUERY_LIMIT_EXCEEDED`) and the per-method operating limit (429 `OPERATION_TIME_LIMIT`), and
/// id-only outbound events that are never retried.
///
/// Run it with ``withRunning(port:_:)`` (tests) or put ``makeRouter()`` and ``services`` in a server (CLI).
/// Control routes under `/_sim/` play the salesperson, the administrator and the outages.
public final class Bitrix24Simulator: Sendable {
    public let configuration: Configuration
    /// Fault knobs (also `GET/PUT /_sim/faults`).
    public let faults: FaultInjector

    let portal: BitrixPortal
    let book: Mutex<BitrixDealBook>
    let oauth: Mutex<BitrixOAuth>
    let bucket: Mutex<BitrixLeakyBucket>
    let operating: Mutex<BitrixOperatingLimiter>
    /// The time the leaky bucket and the operating limit read.
    let limitClock = LimitClock()
    let requestStats = Mutex(BitrixStats())
    let hub: BitrixEventHub
    let sender: BitrixEventSender
    let logger: Logger
    private let flags: Mutex<Flags>

    struct Flags {
        var clockOffset = 0
        var frozenAt: Int?
        var movedTo: String?
        var subscriptionEnded = false
        var commercialPlanEnded = false
    }

    public init(
        configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "bitrix24-simulator", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.configuration = configuration
        self.logger = logger
        let portal = BitrixPortal(configuration)
        let now = Int(Date().timeIntervalSince1970)
        let limits = configuration.limits
        self.portal = portal
        faults = FaultInjector(configuration.faults)
        book = Mutex(BitrixDealBook(portal: portal, firstID: configuration.firstDealID))
        oauth = Mutex(BitrixOAuth(configuration.oauth, now: now))
        bucket = Mutex(BitrixLeakyBucket(capacity: limits.bucketCapacity, drainPerSecond: limits.drainPerSecond))
        operating = Mutex(
            BitrixOperatingLimiter(
                budget: limits.operatingBudgetSeconds,
                window: limits.operatingWindow * limits.timeScale))
        hub = BitrixEventHub(handlers: configuration.eventHandlers)
        sender = BitrixEventSender(hub: hub, delivery: configuration.eventDelivery, logger: logger)
        flags = Mutex(
            Flags(
                movedTo: configuration.movedTo, subscriptionEnded: configuration.subscriptionEnded,
                commercialPlanEnded: configuration.commercialPlanEnded))
        book.withLock { book in
            for seed in configuration.seedDeals {
                book.seed(BitrixDealWrite(plain: seed.fields), actor: seed.createdBy, at: now - seed.ageSeconds)
            }
        }
    }

    /// The event sender; run it next to the HTTP server.
    public var services: [any Service] { [sender] }

    /// The REST routes, the OAuth server and the `/_sim/` control routes.
    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        addControlRoutes(to: router)
        addOAuthRoutes(to: router)
        addRestRoutes(to: router)
        return router
    }

    /// Runs the simulator on loopback with its event sender, gives `body` the base URL, then stops.
    public func withRunning<T: Sendable>(port: Int = 0, _ body: @Sendable (String) async throws -> T) async throws -> T {
        try await SimulatorHost.withRunning(router: makeRouter(), services: services, port: port, body)
    }

    // MARK: Clock

    /// The portal's unix time in seconds: the wall clock, moved by ``advanceClock(bySeconds:)``, or frozen.
    public var now: Int { Int(preciseNow) }

    /// The portal's time with microseconds (`time.start`).
    var preciseNow: Double {
        let (offset, frozen) = flags.withLock { ($0.clockOffset, $0.frozenAt) }
        return frozen.map(Double.init) ?? Date().timeIntervalSince1970 + Double(offset)
    }

    /// Moves the portal's clock forward: `DATE_MODIFY`, token expiry and event `ts` follow it. The limits keep
    /// real time (the operating window scaled by ``Limits/timeScale``); ``advanceLimitClock(by:)`` moves theirs.
    public func advanceClock(bySeconds seconds: Int) {
        flags.withLock { flags in
            flags.clockOffset += seconds
            if let frozen = flags.frozenAt { flags.frozenAt = frozen + seconds }
        }
    }

    /// Stops the clock (at `time`, or now) so that every write lands in the same second; ``unfreezeClock()`` lets
    /// it run again from where it stood.
    public func freezeClock(at time: Int? = nil) {
        let current = now
        flags.withLock { $0.frozenAt = time ?? current }
    }

    public func unfreezeClock() {
        let current = now
        flags.withLock { flags in
            flags.frozenAt = nil
            flags.clockOffset = current - Int(Date().timeIntervalSince1970)
        }
    }

    /// Stops the time the limits read (the leaky bucket and the operating limit), which is otherwise real time
    /// whatever the portal's clock says: every request then arrives at the same instant, however slowly it is sent.
    public func freezeLimitClock() { limitClock.freeze() }

    /// Lets the limits' time run again from where it stood.
    public func unfreezeLimitClock() { limitClock.unfreeze() }

    /// Moves the limits' time forward (the bucket drains, operating buckets leave) without waiting for it.
    public func advanceLimitClock(by duration: Duration) { limitClock.advance(by: duration) }

    // MARK: Moved portal

    /// While set, the portal has moved to this address (`PUT /_sim/faults {moved_to}`): a `/rest/` call sent to any
    /// other host answers 302 to the same path there; one sent to that host and port is served as usual.
    public var movedTo: String? {
        get { flags.withLock { $0.movedTo } }
        set { flags.withLock { $0.movedTo = newValue } }
    }

    /// While true, the application's calls answer 402 `PAYMENT_REQUIRED` ("Subscription has been ended": its
    /// Bitrix24.Market subscription lapsed); inbound webhooks go on (`PUT /_sim/subscription {"ended"}`).
    public var subscriptionEnded: Bool {
        get { flags.withLock { $0.subscriptionEnded } }
        set { flags.withLock { $0.subscriptionEnded = newValue } }
    }

    /// While true, the portal is on a free plan: every REST call, application or inbound webhook, answers 403
    /// `ACCESS_DENIED` ("REST API is available only on commercial plans") (`PUT /_sim/plan {"commercial"}`).
    public var commercialPlanEnded: Bool {
        get { flags.withLock { $0.commercialPlanEnded } }
        set { flags.withLock { $0.commercialPlanEnded = newValue } }
    }
}
