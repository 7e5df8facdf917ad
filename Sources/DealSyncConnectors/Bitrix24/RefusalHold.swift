import Synchronization

/// After a refusal only a person can lift (``ConnectorPaused``: an ended subscription, a token of another
/// application, a plan without REST), calls are held back for ``duration`` and answered with the same refusal
/// without reaching the portal; the first call after that goes out as a probe, and an accepted call ends the hold.
/// So a portal that refuses the connector sees about one call per hold, whatever polls, fetches and writes want.
///
/// Pure: times are seconds of a monotonic clock passed in.
struct RefusalHold: Sendable, Equatable {
    /// Seconds a refusal holds calls back (the connector's `delivery.breaker_cooldown`).
    var duration: Double
    private var refusal: ConnectorPaused?
    private var until = -Double.infinity

    init(duration: Double) { self.duration = duration }

    /// The refusal to answer without calling, or nil to let the call go out.
    func held(at now: Double) -> ConnectorPaused? {
        guard var refusal, now < until else { return nil }
        refusal.status = nil  // not sent
        return refusal
    }

    /// The portal refused a call: hold the next ones back.
    mutating func refused(_ refusal: ConnectorPaused, at now: Double) {
        self.refusal = refusal
        until = now + duration
    }

    /// The portal accepted a call.
    mutating func accepted() {
        refusal = nil
        until = -.infinity
    }
}

/// The hold shared by every copy of the client.
final class RefusalLedger: Sendable {
    private let hold: Mutex<RefusalHold>

    init(_ hold: RefusalHold) { self.hold = Mutex(hold) }

    func withLock<T>(_ body: (inout RefusalHold) -> T) -> T { hold.withLock { body(&$0) } }
}
