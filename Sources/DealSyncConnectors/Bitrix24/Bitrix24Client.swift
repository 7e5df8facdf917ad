import DealSyncCore
import Foundation
import Logging
import NIOHTTP1
import Synchronization

/// Calls Bitrix24 REST methods: through an inbound webhook (`/rest/<user>/<code>/<method>.json`) or an OAuth app
/// (`/rest/<method>.json` with `auth`), within the portal's leaky bucket, following a moved portal, refreshing an
/// expired OAuth token once, and pacing each method (a `batch` and its commands' methods too) under its
/// operating-time budget (``OperatingBudget``): a call waits rather than be refused. After a refusal only a person
/// can lift (``Bitrix24Connector/refusal(code:description:status:)``), calls are held back (``RefusalHold``).
struct Bitrix24Client: Sendable {
    let config: ConnectorConfig
    let transport: HTTPTransport
    let limiter: RateLimiter
    let session: OAuthSession?
    let operating: OperatingLedger
    let hold: RefusalLedger
    let pacing: PacingClock
    let logger: Logger
    /// Where the portal answers now (a 302 moves it).
    let base: PortalAddress

    init(
        config: ConnectorConfig, transport: HTTPTransport, limiter: RateLimiter, session: OAuthSession?, logger: Logger,
        pacing: PacingClock = .continuous, operatingPolicy: OperatingBudget.Policy = .init()
    ) {
        self.config = config
        self.transport = transport
        self.limiter = limiter
        self.session = session
        self.logger = logger
        self.pacing = pacing
        self.operating = OperatingLedger(OperatingBudget(policy: operatingPolicy))
        self.hold = RefusalLedger(
            RefusalHold(
                duration: Double(config.delivery.breakerCooldown.components.seconds)
                    + Double(config.delivery.breakerCooldown.components.attoseconds) / 1e18))
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

    /// Calls `method`; throws ``ConnectorPaused`` without calling while a refusal holds calls back.
    func call(_ method: String, _ params: JSONValue, lineage: UUID? = nil) async throws -> Answer {
        let commands = method == "batch" ? Self.commandMethods(params) : [:]
        let methods = [method] + Set(commands.values).sorted()
        let now = pacing.now()
        if let refusal = hold.withLock({ $0.held(at: now) }) { throw refusal }
        if let wait = operating.withLock({ $0.wait(before: methods, at: now) }) {
            // The method (or a command's) would pass its operating budget: wait for time to leave the window.
            logger.info(
                "Bitrix24 method near its operating-time limit; waiting",
                metadata: [
                    "method": "\(method)", "seconds": "\(Int(wait.rounded(.up)))",
                ])
            try await pacing.sleep(.milliseconds(Int64((wait * 1000).rounded(.up))))
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
            learnOperatingTime(method: method, commands: commands, from: answer)
            if answer.status == 503, answer.errorCode == "QUERY_LIMIT_EXCEEDED", attempt < 2 {
                // Someone else drew on the portal's bucket too: wait for it to drain a little, then try again.
                logger.info("Bitrix24 query limit reached; waiting", metadata: ["method": "\(method)"])
                try await pacing.sleep(.seconds(1))
                continue
            }
            if answer.status == 401, answer.errorCode == "expired_token", let current = token, let session, attempt == 0 {
                token = try await session.renew(after: current)
                continue
            }
            noteRefusal(answer)
            return answer
        }
        throw ConnectorError("Bitrix24 kept moving or refusing \(method)")
    }

    /// Starts a hold on a refusal only a person can lift; ends it on an accepted call.
    private func noteRefusal(_ answer: Answer) {
        if answer.status == 200 {
            hold.withLock { $0.accepted() }
        } else if let refusal = Bitrix24Connector.refusal(
            code: answer.errorCode ?? "", description: answer.errorDescription,
            status: answer.status)
        {
            let now = pacing.now()
            hold.withLock { $0.refused(refusal, at: now) }
            logger.error(
                "Bitrix24 refused the connector; calls held back",
                metadata: [
                    "code": "\(answer.errorCode ?? "")", "status": "\(answer.status)",
                    "hold_seconds": "\(Int(hold.withLock { $0.duration }))",
                ])
        }
    }

    /// A read that was not answered with 200: the refusal that pauses the connector, else an error to retry.
    func failure(_ answer: Answer, _ what: String) -> any Error {
        Bitrix24Connector.refusal(code: answer.errorCode ?? "", description: answer.errorDescription, status: answer.status)
            ?? ConnectorError(status: answer.status, what)
    }

    /// Takes what an answer says about operating time: the method's account in `time`, each command's in
    /// `result_time` (the last command of a method carries that method's account), and refusals.
    private func learnOperatingTime(method: String, commands: [String: String], from answer: Answer) {
        let now = pacing.now()
        operating.withLock { budget in
            if answer.status == 429, answer.errorCode == "OPERATION_TIME_LIMIT" {
                budget.refused(method: method, resetIn: Self.resetIn(answer.json["time"]), at: now)
                return
            }
            let time = answer.json["time"]
            if let total = time?["operating"]?.text.flatMap(Double.init) {
                budget.record(method: method, operating: total, resetIn: Self.resetIn(time), at: now)
            }
            guard method == "batch", let result = answer.result else { return }
            var latest: [String: (operating: Double, resetIn: Double?)] = [:]
            for (key, time) in result["result_time"]?.object ?? [:] {
                guard let inner = commands[key], let total = time["operating"]?.text.flatMap(Double.init) else { continue }
                if total >= latest[inner]?.operating ?? -1 { latest[inner] = (total, Self.resetIn(time)) }
            }
            for (inner, account) in latest.sorted(by: { $0.key < $1.key }) {
                budget.record(method: inner, operating: account.operating, resetIn: account.resetIn, at: now)
            }
            for (key, error) in Bitrix24Connector.commandErrors(result["result_error"]) where error.code == "OPERATION_TIME_LIMIT" {
                if let inner = commands[key] { budget.refused(method: inner, resetIn: nil, at: now) }
            }
        }
    }

    /// Seconds from an answer's `finish` to its `operating_reset_at`, in the portal's own clock.
    static func resetIn(_ time: JSONValue?) -> Double? {
        guard let reset = time?["operating_reset_at"]?.text.flatMap(Double.init), let finish = time?["finish"]?.text.flatMap(Double.init)
        else { return nil }
        return max(0, reset - finish)
    }

    /// A batch's command keys and the method each calls (`crm.deal.update?id=1…` → `crm.deal.update`).
    static func commandMethods(_ params: JSONValue) -> [String: String] {
        var methods: [String: String] = [:]
        for (key, command) in params["cmd"]?.object ?? [:] {
            guard let text = command.string else { continue }
            let name = text.split(separator: "?", maxSplits: 1).first.map(String.init) ?? text
            methods[key] = name.lowercased().hasSuffix(".json") ? String(name.lowercased().dropLast(5)) : name.lowercased()
        }
        return methods
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
    static func refresh(
        _ refreshToken: Secret, oauth: ConnectorConfig.OAuth, transport: HTTPTransport, timeout: Duration
    ) async throws -> OAuthTokens {
        let base = oauth.tokenURL ?? "https://oauth.bitrix.info/oauth/token/"
        let query = [
            ("grant_type", "refresh_token"), ("client_id", oauth.clientID), ("client_secret", oauth.clientSecret.reveal()),
            ("refresh_token", refreshToken.reveal()),
        ]
        let url = base + (base.contains("?") ? "&" : "?") + PHPForm.encode(query)
        let response = try await transport.send(.GET, url, timeout: timeout, secrets: [oauth.clientSecret.reveal(), refreshToken.reveal()])
        let json = JSONValue.parse(response.body) ?? .null
        guard response.status == 200, let access = json["access_token"]?.string else {
            if [400, 401, 403].contains(response.status) {
                throw OAuthGrantLost(
                    reason:
                        "Bitrix24 refused the refresh token (\(json["error"]?.string ?? "HTTP \(response.status)")); authorise the app again"
                )
            }
            throw ConnectorError(status: response.status, "Bitrix24 OAuth refresh")
        }
        return OAuthTokens(
            accessToken: Secret(access), refreshToken: json["refresh_token"]?.string.map(Secret.init),
            accessExpiresAt: json["expires_in"]?.int64.map { Date().addingTimeInterval(Double($0)) })
    }
}

/// The portal's current root URL, shared by every copy of the client.
final class PortalAddress: Sendable {
    private let root: Mutex<String>

    init(_ root: String) { self.root = Mutex(root) }

    func withLock<T>(_ body: (inout String) -> T) -> T { root.withLock { body(&$0) } }
}

/// The operating-time budget shared by every copy of the client.
final class OperatingLedger: Sendable {
    private let budget: Mutex<OperatingBudget>

    init(_ budget: OperatingBudget) { self.budget = Mutex(budget) }

    func withLock<T>(_ body: (inout OperatingBudget) -> T) -> T { budget.withLock { body(&$0) } }
}
