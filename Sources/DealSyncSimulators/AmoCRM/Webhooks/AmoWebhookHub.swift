import DealSyncCore
import Foundation
import Synchronization

/// Webhook subscriptions and the rules around delivery: what is sent to whom, pausing (webhooks lost),
/// and disabling a hook after more than 100 failures within 2 hours (both scaled by the time scale).
final class AmoWebhookHub: Sendable {
    typealias Instant = ContinuousClock.Instant

    struct Counters: Sendable, Equatable {
        var attempts = 0
        var succeeded = 0
        var failed = 0
        var lost = 0
        var disabledHooks = 0
    }

    private struct State {
        var subscriptions: [AmoWebhookSubscription] = []
        var failures: [String: [Instant]] = [:]
        var nextSubscriptionID = 1_250_001
        var nextDeliveryID = 1
        var paused = false
        var history: [AmoWebhookAttempt] = []
        var counters = Counters()
        var random: SplitMix64
    }

    private let state: Mutex<State>
    private let disableThreshold: Int
    private let failureWindow: Duration
    let catalog: AmoCatalog

    init(catalog: AmoCatalog, destinations: [String], disableThreshold: Int, timeScale: Double, seed: UInt64, now: Int) {
        self.catalog = catalog
        self.disableThreshold = disableThreshold
        self.failureWindow = .seconds(7200) * timeScale
        var initial = State(random: SplitMix64(seed: seed))
        for destination in destinations {
            initial.subscriptions.append(
                AmoWebhookSubscription(
                    id: initial.nextSubscriptionID, destination: destination, settings: AmoWebhookSubscription.allLeadEvents,
                    createdAt: now, updatedAt: now, createdBy: 0, sort: initial.subscriptions.count + 1, disabled: false))
            initial.nextSubscriptionID += 1
        }
        state = Mutex(initial)
    }

    // MARK: Subscriptions

    var subscriptions: [AmoWebhookSubscription] { state.withLock { $0.subscriptions } }

    /// Adds a subscription, or replaces the settings of the one with the same destination.
    func subscribe(destination: String, settings: [String], by user: Int, now: Int) -> AmoWebhookSubscription {
        state.withLock { state in
            if let index = state.subscriptions.firstIndex(where: { $0.destination == destination }) {
                state.subscriptions[index].settings = settings
                state.subscriptions[index].updatedAt = now
                return state.subscriptions[index]
            }
            let subscription = AmoWebhookSubscription(
                id: state.nextSubscriptionID, destination: destination, settings: settings, createdAt: now, updatedAt: now,
                createdBy: user, sort: state.subscriptions.count + 1, disabled: false)
            state.nextSubscriptionID += 1
            state.subscriptions.append(subscription)
            return subscription
        }
    }

    func unsubscribe(destination: String) -> Bool {
        state.withLock { state in
            let before = state.subscriptions.count
            state.subscriptions.removeAll { $0.destination == destination }
            return state.subscriptions.count != before
        }
    }

    // MARK: Building deliveries

    /// One delivery per enabled subscription whose settings match; nothing (lost) while paused.
    func deliveries(for changes: [AmoLeadChange]) -> [AmoWebhookDelivery] {
        guard !changes.isEmpty else { return [] }
        return state.withLock { state in
            var result: [AmoWebhookDelivery] = []
            for subscription in state.subscriptions where !subscription.disabled {
                guard
                    let body = AmoWebhookForm.body(
                        for: changes, settings: Set(subscription.settings), catalog: catalog,
                        random: &state.random)
                else { continue }
                if state.paused {
                    state.counters.lost += 1
                    continue
                }
                result.append(
                    AmoWebhookDelivery(
                        id: state.nextDeliveryID, destination: subscription.destination, body: body,
                        isAutomation: false))
                state.nextDeliveryID += 1
            }
            return result
        }
    }

    /// The Digital Pipeline's short form, to one destination or to every enabled subscription.
    func automation(lead: AmoLead, oldStatusID: Int, oldPipelineID: Int, destination: String?) -> [AmoWebhookDelivery] {
        state.withLock { state in
            let targets = destination.map { [$0] } ?? state.subscriptions.filter { !$0.disabled }.map(\.destination)
            guard !state.paused else {
                state.counters.lost += targets.count
                return []
            }
            return targets.map { target in
                defer { state.nextDeliveryID += 1 }
                let body = AmoWebhookForm.automationBody(
                    lead: lead, oldStatusID: oldStatusID, oldPipelineID: oldPipelineID,
                    catalog: catalog, random: &state.random)
                return AmoWebhookDelivery(id: state.nextDeliveryID, destination: target, body: body, isAutomation: true)
            }
        }
    }

    // MARK: Delivery rules

    /// Whether an attempt (first or retry) may go out now; a refused one is lost.
    func mayAttempt(_ delivery: AmoWebhookDelivery) -> Bool {
        state.withLock { state in
            let subscribed = state.subscriptions.first { $0.destination == delivery.destination }
            let allowed = !state.paused && (delivery.isAutomation || (subscribed.map { !$0.disabled } ?? false))
            if !allowed { state.counters.lost += 1 }
            return allowed
        }
    }

    /// Records an attempt; a failure may disable the hook (more than the threshold within the window).
    func record(_ attempt: AmoWebhookAttempt, at now: Instant) {
        state.withLock { state in
            state.history.append(attempt)
            state.counters.attempts += 1
            if attempt.succeeded {
                state.counters.succeeded += 1
                return
            }
            state.counters.failed += 1
            guard !attempt.isAutomation,
                let index = state.subscriptions.firstIndex(where: { $0.destination == attempt.destination })
            else { return }
            var failures = state.failures[attempt.destination, default: []]
            failures.removeAll { now - $0 > failureWindow }
            failures.append(now)
            state.failures[attempt.destination] = failures
            if failures.count > disableThreshold, !state.subscriptions[index].disabled {
                state.subscriptions[index].disabled = true
                state.counters.disabledHooks += 1
            }
        }
    }

    // MARK: Control

    var history: [AmoWebhookAttempt] { state.withLock { $0.history } }
    var counters: Counters { state.withLock { $0.counters } }
    var isPaused: Bool { state.withLock { $0.paused } }

    func setPaused(_ paused: Bool) { state.withLock { $0.paused = paused } }

    /// Re-enables every disabled hook and forgets its failures.
    func enableAll() {
        state.withLock { state in
            for index in state.subscriptions.indices { state.subscriptions[index].disabled = false }
            state.failures.removeAll()
        }
    }
}
