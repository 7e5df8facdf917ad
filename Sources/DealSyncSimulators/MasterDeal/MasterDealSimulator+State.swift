import Foundation

extension MasterDealSimulator {
    /// Everything the simulator remembers; lives behind the simulator's `Mutex`.
    ///
    /// Operations are synchronous and pure apart from this value, so one lock section makes a write (idempotency
    /// check, change, stored response, event history) atomic.
    struct State: Sendable {
        /// An event and the targets it must reach (empty when events are paused).
        struct Outgoing: Sendable {
            var event: Event
            var targets: [EventTarget]
            /// Events are paused: it goes nowhere, not to the bus either.
            var dropped = false
        }

        var deals: [String: Deal] = [:]
        var notes: [Note] = []
        var idempotency: IdempotencyStore
        var history: [EmittedEvent] = []
        var eventTargets: [EventTarget]
        var eventsPaused = false
        /// "METHOD /route/template" → status → count.
        var requests: [String: [String: Int]] = [:]
        var writesApplied = 0
        var userWrites = 0
        var idempotentReplays = 0

        init(configuration: Configuration) {
            idempotency = IdempotencyStore(retention: configuration.idempotencyRetention)
            eventTargets = configuration.eventTargets
            for deal in configuration.seedDeals { deals[deal.id] = deal }
        }

        // MARK: Changes

        /// Creates a deal at version 1 and answers it with its `DealCreated` event.
        mutating func create(
            _ draft: DealDraft, id: String? = nil, source: String, now: Int64,
            rules: DealRules
        ) throws -> (deal: Deal, events: [Event]) {
            if let id, deals[id] != nil {
                throw Problem.validation("A deal with id \(id) exists.", pointer: "/id")
            }
            var newID = id ?? MasterDealSimulator.newDealID()
            while id == nil && deals[newID] != nil { newID = MasterDealSimulator.newDealID() }
            let deal = draft.makeDeal(id: newID, now: now)
            deals[newID] = deal
            return (deal, rules.events(before: nil, after: deal, source: source))
        }

        /// Applies a merge-patch. A patch that changes nothing answers the deal as it is, with no event.
        ///
        /// Checks, in order: the deal exists (404), `If-Match` (412), the result is valid (422), the stage
        /// transition is allowed (422 `invalid-stage-transition`).
        mutating func update(
            id: String, patch: DealPatch, ifMatch: Int?, source: String, now: Int64,
            rules: DealRules, reason: String? = nil
        ) throws -> (deal: Deal, events: [Event]) {
            guard let current = deals[id] else { throw Problem.notFound("Deal \(id)") }
            if let ifMatch, ifMatch != current.version {
                throw Problem.preconditionFailed(currentVersion: current.version)
            }
            var next = try patch.applied(to: current)
            try rules.checkTransition(from: current.stage, to: next.stage)
            if next.sameContent(as: current) { return (current, []) }
            next.version = current.version + 1
            next.updatedAt = max(now, current.updatedAt)
            deals[id] = next
            return (next, rules.events(before: current, after: next, source: source, reason: reason))
        }

        /// Attaches a note; the deal itself does not change.
        mutating func addNote(dealID: String, text: String, now: Int64) throws -> Note {
            guard deals[dealID] != nil else { throw Problem.notFound("Deal \(dealID)") }
            var noteID = Self.newNoteID()
            while notes.contains(where: { $0.id == noteID }) { noteID = Self.newNoteID() }
            let note = Note(id: noteID, dealID: dealID, text: text, createdAt: now)
            notes.append(note)
            return note
        }

        /// An on-demand event (`OfferApproved`, `BillingReady`) about the deal as it is.
        func onDemandEvent(_ kind: Event.Kind, dealID: String, source: String, now: Int64) throws -> Event {
            guard Event.Kind.onDemand.contains(kind) else {
                throw Problem.validation("Only OfferApproved and BillingReady are emitted on demand.", pointer: "/type")
            }
            guard let deal = deals[dealID] else { throw Problem.notFound("Deal \(dealID)") }
            return Event(type: kind, occurredAt: now, source: source, deal: deal)
        }

        // MARK: Events

        /// Records events in the history and answers where each must go; paused events go nowhere.
        mutating func record(_ events: [Event]) -> [Outgoing] {
            events.map { event in
                let targets = eventsPaused ? [] : eventTargets
                history.append(EmittedEvent(event: event, targets: targets.map(\.url), dropped: eventsPaused))
                return Outgoing(event: event, targets: targets, dropped: eventsPaused)
            }
        }

        mutating func countRequest(_ route: String, status: Int) {
            requests[route, default: [:]][String(status), default: 0] += 1
        }

        private static func newNoteID() -> String {
            "note-" + String(format: "%08x", UInt32.random(in: 0...UInt32.max))
        }
    }
}
