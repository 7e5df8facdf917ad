import Foundation
import Hummingbird
import ServiceLifecycle
import Synchronization

/// An in-memory MasterDeal: the canonical deal API (`/v1/…`), signed events with retries, and control routes
/// (`/_sim/…`) that play the MasterDeal UI, turn fault knobs and report statistics.
///
/// The contract it implements is `contracts/masterdeal.openapi.yaml` with the event schemas in
/// `contracts/events/`.
///
/// - Important: events are sent by ``services`` (the webhook dispatcher); run them, for example with
///   ``withRunning(port:_:)``, or events stay queued.
public final class MasterDealSimulator: Sendable {
    /// The client name of changes made through the control routes.
    public static let userSource = "masterdeal-ui"

    public let configuration: Configuration
    public let faults: FaultInjector
    let rules: DealRules
    let state: Mutex<State>
    let publisher: EventPublisher

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        faults = FaultInjector(configuration.faults)
        rules = DealRules(configuration)
        state = Mutex(State(configuration: configuration))
        publisher = EventPublisher(timeScale: configuration.eventTimeScale, timeout: configuration.eventTimeout)
    }

    /// The background services: the webhook dispatcher that delivers events.
    public var services: [any Service] { [publisher.dispatcher] }

    /// The API and control routes, behind MasterDeal's fault responses.
    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(
            middleware: ProblemMiddleware { route, status in
                self.state.withLock { $0.countRequest(route, status: status) }
            })
        router.add(middleware: FaultMiddleware(injector: faults, render: Self.renderFault))
        addAPIRoutes(to: router)
        addControlRoutes(to: router)
        return router
    }

    /// Runs the simulator on loopback (`port` 0 picks a free one) and calls `body` with the base URL.
    public func withRunning<T: Sendable>(port: Int = 0, _ body: @Sendable (String) async throws -> T) async throws -> T {
        try await SimulatorHost.withRunning(router: makeRouter(), services: services, port: port, body)
    }

    /// The current time in unix milliseconds, from the configured clock.
    var now: Int64 { WireTime.millis(configuration.clock()) }

    static func renderFault(_ fault: FaultInjector.Fault) -> Response {
        switch fault {
        case .rateLimited(let retryAfter): Problem.rateLimited(retryAfterSeconds: retryAfter).response()
        case .down: Problem.unavailable().response()
        case .none, .serverError, .hang: Problem.internalError().response()
        }
    }

    // MARK: In-process helpers

    public func deal(id: String) -> Deal? {
        state.withLock { $0.deals[id] }
    }

    /// Every deal in (`updated_at`, `id`) order.
    public func allDeals() -> [Deal] {
        state.withLock { $0.deals.values.sorted { PageCursor($0) < PageCursor($1) } }
    }

    /// Creates a deal as a MasterDeal user would (`source` `masterdeal-ui`); `fields` is a create body and may
    /// carry an `id`.
    @discardableResult
    public func createAsUser(_ fields: JSONValue) throws -> Deal {
        let draft = try DealDraft(json: fields, stages: rules.stages, extraAllowed: ["id"])
        if let id = fields["id"], id.stringValue?.isEmpty != false {
            throw Problem.validation("id must be a non-empty string.", pointer: "/id")
        }
        let now = self.now
        let (deal, outgoing) = try state.withLock { state in
            let (deal, events) = try state.create(
                draft, id: fields["id"]?.stringValue, source: Self.userSource,
                now: now, rules: rules)
            state.userWrites += 1
            return (deal, state.record(events))
        }
        publisher.publish(outgoing)
        return deal
    }

    /// Fills MasterDeal with deals from its past, each last changed at its own instant (unix milliseconds), as
    /// made by its users long ago: no event is published. Returns the deals in order.
    @discardableResult
    public func seedHistory(_ history: [(fields: JSONValue, updatedAtMillis: Int64)]) throws -> [Deal] {
        let drafts = try history.map { (try DealDraft(json: $0.fields, stages: rules.stages, extraAllowed: ["id"]), $0) }
        return try state.withLock { state in
            try drafts.map { draft, past in
                try state.create(
                    draft, id: past.fields["id"]?.stringValue, source: Self.userSource, now: past.updatedAtMillis, rules: rules
                ).deal
            }
        }
    }

    /// Edits a deal as a MasterDeal user would: a merge-patch that bumps the version and emits events with
    /// `source` `masterdeal-ui`.
    @discardableResult
    public func editAsUser(id: String, changes: JSONValue, ifMatch: Int? = nil) throws -> Deal {
        let patch = try DealPatch(json: changes, stages: rules.stages)
        let now = self.now
        let (deal, outgoing) = try state.withLock { state in
            let before = state.deals[id]?.version
            let (deal, events) = try state.update(
                id: id, patch: patch, ifMatch: ifMatch, source: Self.userSource,
                now: now, rules: rules)
            if deal.version != before { state.userWrites += 1 }
            return (deal, state.record(events))
        }
        publisher.publish(outgoing)
        return deal
    }

    /// Emits `OfferApproved` or `BillingReady` for a deal (as the MasterDeal UI does).
    @discardableResult
    public func emit(_ kind: Event.Kind, dealID: String) throws -> Event {
        let now = self.now
        let (event, outgoing) = try state.withLock { state in
            let event = try state.onDemandEvent(kind, dealID: dealID, source: Self.userSource, now: now)
            return (event, state.record([event]))
        }
        publisher.publish(outgoing)
        return event
    }

    public func notes(dealID: String) -> [Note] {
        state.withLock { $0.notes.filter { $0.dealID == dealID } }
    }

    /// Every event emitted so far, oldest first.
    public var eventHistory: [EmittedEvent] { state.withLock { $0.history } }

    /// Every event delivery attempt so far, oldest first.
    public var deliveryAttempts: [WebhookDispatcher.Attempt] { publisher.dispatcher.history }

    public var eventTargets: [EventTarget] {
        get { state.withLock { $0.eventTargets } }
    }

    public func setEventTargets(_ targets: [EventTarget]) {
        state.withLock { $0.eventTargets = targets }
    }

    /// While paused, events are recorded as dropped and sent nowhere (lost events).
    public func pauseEvents() { state.withLock { $0.eventsPaused = true } }

    public func resumeEvents() { state.withLock { $0.eventsPaused = false } }

    public var eventsPaused: Bool { state.withLock { $0.eventsPaused } }

    public var stats: Stats {
        let attempts = publisher.dispatcher.history
        let lastAttempt = EventPublisher.retryDelays.count + 1
        let pending = publisher.dispatcher.pending
        return state.withLock { state in
            Stats(
                requests: state.requests,
                writesApplied: state.writesApplied,
                userWrites: state.userWrites,
                idempotentReplays: state.idempotentReplays,
                deals: state.deals.count,
                eventsEmitted: state.history.count,
                eventsDropped: state.history.count { $0.dropped },
                eventsSent: attempts.count { $0.succeeded },
                eventAttemptsFailed: attempts.count { !$0.succeeded },
                eventsFailed: attempts.count { !$0.succeeded && $0.attempt == lastAttempt },
                eventsPending: pending)
        }
    }
}
