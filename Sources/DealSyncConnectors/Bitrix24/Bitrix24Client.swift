import DealSyncCore
import Foundation
import Logging
import NIOHTTP1
import Synchronization

/// Calls Bitrix24 REST methods: through an inbound webhook (`/rest/<user>/<code>/<method>.json`) or an OAuth app
/// (`/rest/<method>.json` with `auth`), within the portal's leaky bucket, following a moved portal, refreshing an
/// expired OAuth token once, and keeping each method under its operating-time budget.
struct Bitrix24Client: Sendable {
    let config: ConnectorConfig
    let transport: HTTPTransport
    let limiter: RateLimiter
    let session: OAuthSession?
    let operating: OperatingBudget
    let logger: Logger
    /// Where the portal answers now (a 302 moves it).
    let base: PortalAddress

    init(config: ConnectorConfig, transport: HTTPTransport, limiter: RateLimiter, session: OAuthSession?, logger: Logger) {
        self.config = config
        self.transport = transport
        self.limiter = limiter
        self.session = session
        self.logger = logger
        self.operating = OperatingBudget()
        self.base = PortalAddress(config.baseURL)
    }

    /// A method's answer: HTTP status and the JSON body.
    struct Answer: Sendable {
        var status: Int
        var json: JSONValue
        var errorCode: String? { json["error"]?.string }
        var errorDescription: String { json["error_description"]?.string ?? "" }
        var result: JSONValue? { json["result"] }
    }

    var secrets: [String] {
        var secrets: [String] = []
        if case .inboundWebhook(_, let code) = config.auth { secrets.append(code.reveal()) }
        if case .oauth(let oauth) = config.auth { secrets.append(oauth.clientSecret.reveal()) }
        return secrets
    }

    func call(_ method: String, _ params: JSONValue, lineage: UUID? = nil) async throws -> Answer {
        if let wait = operating.wait(for: method) {
            // The method used up its operating time: wait until its reset rather than be refused.
            logger.info("method over its operating budget; waiting", metadata: ["method": "\(method)", "seconds": "\(wait)"])
            try await Task.sleep(for: .seconds(wait))
        }
        var token = try await session?.accessToken()
        for attempt in 0..<3 {
            try await limiter.acquire()
            var body = params
            if let token, case .object(var object) = body {
                object["auth"] = .string(token.reveal())
                body = .object(object)
            }
            let url = endpoint(method)
            let response = try await transport.send(
                .POST, url, headers: [("Content-Type", "application/json"), ("Accept", "application/json")], body: body.data(),
                timeout: config.delivery.requestTimeout, lineage: lineage, secrets: secrets + (token.map { [$0.reveal()] } ?? []))
            if response.status == 302, let location = response.header("Location"), attempt < 2 {
                moved(to: location, method: method)
                continue
            }
            let answer = Answer(status: response.status, json: JSONValue.parse(response.body) ?? .null)
            operating.record(method: method, time: answer.json["time"])
            if answer.status == 503, answer.errorCode == "QUERY_LIMIT_EXCEEDED", attempt < 2 {
                // Someone else drew on the portal's bucket too: wait for it to drain a little, then try again.
                logger.info("Bitrix24 query limit reached; waiting", metadata: ["method": "\(method)"])
                try await Task.sleep(for: .seconds(1))
                continue
            }
            if answer.status == 401, answer.errorCode == "expired_token", let current = token, let session, attempt == 0 {
                token = try await session.renew(after: current)
                continue
            }
            return answer
        }
        throw ConnectorError("Bitrix24 kept moving or refusing \(method)")
    }

    func endpoint(_ method: String) -> String {
        let root = base.withLock { $0 }
        switch config.auth {
        case .inboundWebhook(let user, let code): return "\(root)/rest/\(user)/\(code.reveal())/\(method).json"
        default: return "\(root)/rest/\(method).json"
        }
    }

    /// A moved portal answers 302: later calls go to the new place.
    private func moved(to location: String, method: String) {
        guard let range = location.range(of: "/rest/") else { return }
        let root = String(location[..<range.lowerBound])
        base.withLock { $0 = root }
        logger.warning("Bitrix24 portal moved", metadata: ["to": "\(root)"])
    }

    /// `GET https://oauth.bitrix.info/oauth/token/?grant_type=refresh_token…` (or the configured token URL).
    static func refresh(_ refreshToken: Secret, oauth: ConnectorConfig.OAuth, transport: HTTPTransport, timeout: Duration) async throws -> OAuthTokens {
        let base = oauth.tokenURL ?? "https://oauth.bitrix.info/oauth/token/"
        let query = [("grant_type", "refresh_token"), ("client_id", oauth.clientID), ("client_secret", oauth.clientSecret.reveal()),
                     ("refresh_token", refreshToken.reveal())]
        let url = base + (base.contains("?") ? "&" : "?") + PHPForm.encode(query)
        let response = try await transport.send(.GET, url, timeout: timeout, secrets: [oauth.clientSecret.reveal(), refreshToken.reveal()])
        let json = JSONValue.parse(response.body) ?? .null
        guard response.status == 200, let access = json["access_token"]?.string else {
            if [400, 401, 403].contains(response.status) {
                throw OAuthGrantLost(reason: "Bitrix24 refused the refresh token (\(json["error"]?.string ?? "HTTP \(response.status)")); authorise the app again")
            }
            throw ConnectorError(status: response.status, "Bitrix24 OAuth refresh")
        }
        return OAuthTokens(accessToken: Secret(access), refreshToken: json["refresh_token"]?.string.map(Secret.init),
                           accessExpiresAt: json["expires_in"]?.int64.map { Date().addingTimeInterval(Double($0)) })
    }
}

/// The portal's current root URL, shared by every copy of the client.
final class PortalAddress: Sendable {
    private let root: Mutex<String>

    init(_ root: String) { self.root = Mutex(root) }

    func withLock<T>(_ body: (inout String) -> T) -> T { root.withLock { body(&$0) } }
}

/// Bitrix24's second limit: per method, the summed execution time (`time.operating`) over ten minutes. dealsync
/// slows a method down before its budget runs out and waits out a block until `operating_reset_at`.
final class OperatingBudget: Sendable {
    /// Seconds of operating time per method per ten minutes (Bitrix24's documented 480 s).
    static let budget: Double = 480
    /// Above this share of the budget, calls to the method are spaced out.
    static let slowDownShare = 0.8

    private struct Usage {
        var operating: Double = 0
        var resetAt: Double = 0
    }

    private let usage = Mutex<[String: Usage]>([:])

    func record(method: String, time: JSONValue?) {
        guard let time else { return }
        let operating = time["operating"]?.text.flatMap(Double.init) ?? 0
        let reset = time["operating_reset_at"]?.text.flatMap(Double.init) ?? 0
        usage.withLock { $0[method] = Usage(operating: operating, resetAt: reset) }
    }

    /// How long to wait before calling `method` now, if at all.
    func wait(for method: String) -> Double? {
        let now = Date().timeIntervalSince1970
        guard let current = usage.withLock({ $0[method] }), current.resetAt > now else { return nil }
        if current.operating >= Self.budget { return current.resetAt - now }
        if current.operating >= Self.budget * Self.slowDownShare { return 1 }
        return nil
    }

    /// The operating-limit error: the method is blocked until its reset.
    func blocked(method: String, until reset: Double) {
        usage.withLock { $0[method] = Usage(operating: Self.budget, resetAt: reset) }
    }
}
