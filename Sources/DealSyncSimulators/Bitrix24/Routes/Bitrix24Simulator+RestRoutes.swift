import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// `/rest/<method>` (OAuth, `auth=<token>`) and `/rest/<user_id>/<code>/<method>` (inbound webhook), GET or POST,
/// parameters in the query string, a JSON body or a form body.
///
/// What a request meets, in order: a moved portal (302), the injected faults, the leaky bucket (503), the method
/// look-up (404), authentication (401, `wrong_client` for a former client's token), an ended commercial plan (403
/// `ACCESS_DENIED` for every caller), an ended application subscription (402 `PAYMENT_REQUIRED` for the
/// application's calls; inbound webhooks go on), the operating limit (429), then the method.
extension Bitrix24Simulator {
    static let maxBodyBytes = 16 << 20

    func addRestRoutes(to router: Router<BasicRequestContext>) {
        router.get("/rest/**") { request, _ in await self.handleRest(request) }
        router.post("/rest/**") { request, _ in await self.handleRest(request) }
    }

    private func handleRest(_ request: Request) async -> Response {
        let arrived = preciseNow
        let segments = request.uri.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let method = segments.count > 1 ? BitrixCall.methodName(segments[segments.count - 1]) : ""
        let response = await respond(request, segments: segments, method: method, arrived: arrived)
        requestStats.withLock { stats in
            stats.requestsTotal += 1
            stats.requestsByMethod[method, default: 0] += 1
            stats.requestsByStatus[String(response.status.code), default: 0] += 1
        }
        return response
    }

    /// Whether `request` was sent to the portal's new address (its host and port), which serves it as usual.
    static func arrives(_ request: Request, at address: String) -> Bool {
        guard let authority = request.head.authority?.lowercased() else { return false }
        var rest = Substring(address.lowercased())
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
        return rest.prefix { $0 != "/" } == authority
    }

    private func respond(_ request: Request, segments: [String], method: String, arrived: Double) async -> Response {
        if let moved = movedTo, !Self.arrives(request, at: moved) {
            requestStats.withLock { $0.redirects += 1 }
            let query = request.uri.query.map { "?" + $0 } ?? ""
            return BitrixResponse.moved(to: moved.trimmingSuffix("/") + request.uri.path + query)
        }
        if let faulted = await playFault() { return faulted }
        let limitNow = limitClock.now
        let (admitted, peak) = bucket.withLock { bucket in (bucket.admit(at: limitNow), bucket.peak) }
        requestStats.withLock { $0.bucketLevelMax = max($0.bucketLevelMax, peak) }
        guard admitted else {
            requestStats.withLock { $0.queryLimitExceeded += 1 }
            return BitrixError.queryLimitExceeded.rendered
        }
        guard segments.first == "rest", segments.count == 2 || segments.count == 4, Self.methodNames.contains(method) else {
            return BitrixError.methodNotFound.rendered
        }
        let body: String
        do {
            body = String(buffer: try await request.body.collect(upTo: Self.maxBodyBytes))
        } catch {
            return BitrixError.internalError.rendered
        }
        var params = BitrixParameters.parse(query: request.uri.query, body: body, contentType: request.headers[.contentType])
        let caller: BitrixCaller
        switch authenticate(segments: segments, params: params) {
        case .success(let found): caller = found
        case .failure(let error): return error.rendered
        }
        params["auth"] = nil
        if commercialPlanEnded { return BitrixError.commercialPlansOnly.rendered }
        if subscriptionEnded, caller.kind == .application { return BitrixError.paymentRequired.rendered }
        let call = BitrixCall(method: method, params: params, caller: caller)
        let result = method == "batch" ? runBatch(call, arrived: arrived) : execute(call, arrived: arrived)
        switch result {
        case .success(let (outcome, time)): return BitrixResponse.success(outcome, time: time)
        case .failure(let error): return error.rendered
        }
    }

    /// Plays the injected fault as the portal's edge shows it; `nil` lets the request through.
    private func playFault() async -> Response? {
        let (latency, fault) = faults.next(changes: true)  // every REST call is a POST, reads too
        if latency > 0 { try? await Task.sleep(for: .milliseconds(latency)) }
        let response: Response
        switch fault {
        case .none: return nil
        case .serverError: response = BitrixError.internalError.rendered
        case .rateLimited: response = BitrixError.queryLimitExceeded.rendered
        case .down: response = BitrixError.overload.rendered
        case .hang(let millis):
            try? await Task.sleep(for: .milliseconds(millis))
            response = BitrixResponse.gatewayTimeout()
        }
        requestStats.withLock { $0.faultsInjected += 1 }
        return response
    }

    /// The webhook in the path (`/rest/<user_id>/<code>/<method>`), else the access token in `auth`.
    private func authenticate(segments: [String], params: QueryForm.Map) -> Result<BitrixCaller, BitrixError> {
        if segments.count == 4 {
            guard let user = Int(segments[1]),
                let hook = configuration.webhooks.first(where: { $0.userID == user && $0.code == segments[2] })
            else { return .failure(.noAuth) }
            return .success(.webhook(hook))
        }
        guard let token = params["auth"]?.string, !token.isEmpty else { return .failure(.noAuth) }
        let now = self.now
        switch oauth.withLock({ $0.authenticate(token, now: now) }) {
        case .success(let user): return .success(.application(clientID: oauth.withLock { $0.clientID }, userID: user))
        case .failure(.expired): return .failure(.expiredToken)
        case .failure(.wrongClient): return .failure(.wrongClient)
        case .failure(.unknown): return .failure(.noAuth)
        }
    }

    // MARK: Execution

    /// Runs one method under the operating limit: blocked → 429; otherwise its simulated execution time is added
    /// to the method's account, and `time` reports the account.
    func execute(_ call: BitrixCall, arrived: Double) -> Result<(BitrixOutcome, BitrixTimeBlock), BitrixError> {
        let key = BitrixOperatingLimiter.Key(caller: call.caller.limiterKey, method: call.method)
        guard !isOverBudget(key) else { return .failure(.operationTimeLimit) }
        let started = ContinuousClock.now
        var outcome: BitrixOutcome
        do {
            outcome = try perform(call)
        } catch {
            return .failure(error)
        }
        outcome.seconds = configuration.limits.cost.seconds(for: outcome)
        let usage = charge(key, seconds: outcome.seconds)
        let elapsed = ContinuousClock.now - started
        return .success((outcome, timeBlock(arrived: arrived, processing: elapsed, usage: usage)))
    }

    /// Adds `seconds` of execution time to a method's account and returns the account.
    func charge(_ key: BitrixOperatingLimiter.Key, seconds: Double) -> (operating: Double, resetIn: Duration?) {
        let limitNow = limitClock.now
        return operating.withLock { limiter in
            limiter.register(key, seconds: seconds, at: limitNow)
            return limiter.usage(key, at: limitNow)
        }
    }

    /// Whether a method is over its budget for a caller; counts the refusal.
    func isOverBudget(_ key: BitrixOperatingLimiter.Key) -> Bool {
        let limitNow = limitClock.now
        guard operating.withLock({ $0.isBlocked(key, at: limitNow) }) else { return false }
        requestStats.withLock { $0.operationTimeLimited += 1 }
        return true
    }

    func timeBlock(arrived: Double, processing: Duration, usage: (operating: Double, resetIn: Duration?)) -> BitrixTimeBlock {
        let finish = max(preciseNow, arrived)
        let processingSeconds = Double(processing.components.seconds) + Double(processing.components.attoseconds) / 1e18
        let resetAt = usage.resetIn.map {
            Int((finish + Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18).rounded(.up))
        }
        return BitrixTimeBlock(
            start: arrived, finish: finish, processing: processingSeconds, operating: usage.operating,
            operatingResetAt: resetAt, offsetSeconds: configuration.timeZoneOffsetSeconds)
    }
}

extension BitrixError {
    var rendered: Response { BitrixResponse.json(json, status: status) }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}
