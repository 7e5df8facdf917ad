/// Who is calling: an inbound webhook (the user in its path) or the OAuth application (the user its token acts as).
struct BitrixCaller: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        case webhook
        case application
    }

    var kind: Kind
    var userID: Int
    /// Whose operating time a call counts against: each webhook and the application keep their own.
    var limiterKey: String

    static func webhook(_ hook: Bitrix24Simulator.InboundWebhook) -> BitrixCaller {
        BitrixCaller(kind: .webhook, userID: hook.userID, limiterKey: "webhook:\(hook.userID):\(hook.code)")
    }

    static func application(clientID: String, userID: Int) -> BitrixCaller {
        BitrixCaller(kind: .application, userID: userID, limiterKey: "app:\(clientID)")
    }
}
