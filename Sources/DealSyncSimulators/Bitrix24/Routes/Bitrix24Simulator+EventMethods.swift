import Synchronization

/// `event.bind`, `event.unbind`, `event.get`: application context only (an inbound webhook gets
/// 403 `WRONG_AUTH_TYPE`; outgoing webhooks are set up in the UI, here in ``Bitrix24Simulator/Configuration``).
extension Bitrix24Simulator {
    func bindEvent(_ call: BitrixCall) throws(BitrixError) -> BitrixOutcome {
        guard call.caller.kind == .application else { throw .wrongAuthType }
        guard let event = call.params.text("event", "EVENT"), !event.isEmpty else { throw .argumentMissing("EVENT") }
        guard let handler = call.params.text("handler", "HANDLER"), !handler.isEmpty else { throw .argumentMissing("HANDLER") }
        let authUser = call.params.text("auth_type", "AUTH_TYPE").map(BitrixDealWrite.phpInt) ?? 0
        _ = try hub.bind(event: event, handler: handler, kind: .application, authUserID: authUser).get()
        return BitrixOutcome(.bool(true))
    }

    /// Removes the handlers matching whatever of `event` and `handler` is given → `{"count": n}`.
    func unbindEvent(_ call: BitrixCall) throws(BitrixError) -> BitrixOutcome {
        guard call.caller.kind == .application else { throw .wrongAuthType }
        let event = call.params.text("event", "EVENT").flatMap { $0.isEmpty ? nil : $0 }
        let handler = call.params.text("handler", "HANDLER").flatMap { $0.isEmpty ? nil : $0 }
        let count = hub.unbind(event: event, handler: handler)
        return BitrixOutcome(.object([("count", .int(count))]))
    }

    /// The application's handlers.
    func listEventHandlers(_ call: BitrixCall) throws(BitrixError) -> BitrixOutcome {
        guard call.caller.kind == .application else { throw .wrongAuthType }
        let handlers: [BitrixJSON] = hub.subscriptions.filter { $0.kind == .application }.map { subscription in
            .object([
                ("event", .string(subscription.event)), ("handler", .string(subscription.handler)),
                ("auth_type", .string(String(subscription.authUserID))), ("offline", .int(0)),
            ])
        }
        return BitrixOutcome(.array(handlers))
    }
}
