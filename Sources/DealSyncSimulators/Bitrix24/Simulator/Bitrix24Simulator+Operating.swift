import Hummingbird
import Synchronization

/// The operating limit from the outside: drive a method to its limit (the fault a write-heavy neighbour or a runaway
/// report causes), and read the accounts. Also `POST /_sim/operating/exhaust {"method"}` and `GET /_sim/operating`.
extension Bitrix24Simulator {
    /// Puts `method` just past its budget for every caller (each inbound webhook and the application): it answers 429
    /// `OPERATION_TIME_LIMIT` until its oldest bucket leaves the ten-minute window.
    public func exhaustOperatingTime(method: String) {
        let limitNow = limitClock.now
        let keys = callerKeys.map { BitrixOperatingLimiter.Key(caller: $0, method: BitrixCall.methodName(method)) }
        operating.withLock { limiter in for key in keys { limiter.exhaust(key, at: limitNow) } }
    }

    /// The seconds `method` has used within the window, for the caller that used the most.
    public func operatingTime(method: String) -> Double {
        let limitNow = limitClock.now
        let name = BitrixCall.methodName(method)
        return operating.withLock { $0.accounts(at: limitNow) }.filter { $0.key.method == name }.map(\.operating).max() ?? 0
    }

    /// The limiter keys of every inbound webhook and of the application.
    private var callerKeys: [String] {
        configuration.webhooks.map { BitrixCaller.webhook($0).limiterKey }
            + [BitrixCaller.application(clientID: configuration.oauth.clientID, userID: configuration.oauth.userID).limiterKey]
    }

    func addOperatingRoutes(to router: Router<BasicRequestContext>) {
        router.post("/_sim/operating/exhaust") { request, _ in
            let text = String(buffer: try await request.body.collect(upTo: 1 << 16))
            guard let method = BitrixJSON.parse(text)?["method"]?.string, !method.isEmpty else {
                return BitrixResponse.json(.object([("error", .string("expected {\"method\": \"crm.deal.update\"}"))]), status: .badRequest)
            }
            self.exhaustOperatingTime(method: method)
            return BitrixResponse.noContent()
        }
        router.get("/_sim/operating") { _, _ in
            let limitNow = self.limitClock.now
            let accounts = self.operating.withLock { $0.accounts(at: limitNow) }
            return BitrixResponse.json(
                .array(
                    accounts.map { account in
                        .object([
                            ("caller", .string(account.key.caller.hasPrefix("app:") ? "application" : "webhook")),
                            ("method", .string(account.key.method)), ("operating", .double(account.operating)),
                            (
                                "reset_in",
                                account.resetIn.map { .double(Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18) }
                                    ?? .null
                            ),
                        ])
                    }))
        }
    }
}
