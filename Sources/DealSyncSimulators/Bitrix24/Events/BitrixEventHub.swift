import Foundation
import Synchronization

/// Event handlers and the rules around delivery: who receives which event, pausing (events lost, as in an outage
/// of the queue server), the handlers deprioritised for answering slowly, and the record of every attempt.
final class BitrixEventHub: Sendable {
    struct Counters: Sendable, Equatable {
        var attempts = 0
        var succeeded = 0
        var failed = 0
        var lost = 0
    }

    private struct State {
        var subscriptions: [BitrixEventSubscription] = []
        var nextSubscriptionID = 201
        var nextDeliveryID = 1
        var paused = false
        var slowHandlers: Set<String> = []
        var history: [BitrixEventAttempt] = []
        var counters = Counters()
    }

    private let state: Mutex<State>

    init(handlers: [Bitrix24Simulator.EventHandler]) {
        var initial = State()
        for handler in handlers where !initial.subscriptions.contains(where: { $0.event == handler.event && $0.handler == handler.url }) {
            initial.subscriptions.append(
                BitrixEventSubscription(
                    id: initial.nextSubscriptionID, event: handler.event, handler: handler.url, kind: handler.kind, authUserID: 0))
            initial.nextSubscriptionID += 1
        }
        state = Mutex(initial)
    }

    // MARK: Subscriptions

    var subscriptions: [BitrixEventSubscription] { state.withLock { $0.subscriptions } }

    /// `event.bind`: one handler per event and URL.
    func bind(
        event: String, handler: String, kind: Bitrix24Simulator.EventHandler.Kind, authUserID: Int
    )
        -> Result<BitrixEventSubscription, BitrixError>
    {
        let event = event.uppercased()
        return state.withLock { state in
            if state.subscriptions.contains(where: { $0.event == event && $0.handler == handler }) {
                return .failure(.handlerAlreadyBound)
            }
            let subscription = BitrixEventSubscription(
                id: state.nextSubscriptionID, event: event, handler: handler, kind: kind,
                authUserID: authUserID)
            state.nextSubscriptionID += 1
            state.subscriptions.append(subscription)
            return .success(subscription)
        }
    }

    /// `event.unbind`: removes every handler matching the given event and URL (either may be omitted).
    func unbind(event: String?, handler: String?) -> Int {
        state.withLock { state in
            let before = state.subscriptions.count
            state.subscriptions.removeAll { subscription in
                (event.map { $0.uppercased() == subscription.event } ?? true) && (handler.map { $0 == subscription.handler } ?? true)
            }
            return before - state.subscriptions.count
        }
    }

    // MARK: Deliveries

    /// One delivery per handler of the change's event; none while paused (they are lost and counted).
    func deliveries(for change: BitrixDealChange, body: (BitrixEventSubscription) -> String) -> [BitrixEventDelivery] {
        let event = change.kind.eventName
        let targets = subscriptions.filter { $0.event == event }
        guard !targets.isEmpty else { return [] }
        let bodies = targets.map(body)
        return state.withLock { state in
            guard !state.paused else {
                state.counters.lost += targets.count
                return []
            }
            return zip(targets, bodies).map { subscription, text in
                defer { state.nextDeliveryID += 1 }
                return BitrixEventDelivery(id: state.nextDeliveryID, subscription: subscription, dealID: change.deal.id, body: text)
            }
        }
    }

    func record(_ attempt: BitrixEventAttempt) {
        state.withLock { state in
            state.history.append(attempt)
            state.counters.attempts += 1
            if attempt.succeeded { state.counters.succeeded += 1 } else { state.counters.failed += 1 }
        }
    }

    // MARK: Slow handlers

    func isSlow(_ handler: String) -> Bool { state.withLock { $0.slowHandlers.contains(handler) } }

    func setSlow(_ handler: String, _ slow: Bool) {
        state.withLock { state in
            if slow { state.slowHandlers.insert(handler) } else { state.slowHandlers.remove(handler) }
        }
    }

    // MARK: Control

    var history: [BitrixEventAttempt] { state.withLock { $0.history } }
    var counters: Counters { state.withLock { $0.counters } }
    var isPaused: Bool { state.withLock { $0.paused } }

    func setPaused(_ paused: Bool) { state.withLock { $0.paused = paused } }
}
