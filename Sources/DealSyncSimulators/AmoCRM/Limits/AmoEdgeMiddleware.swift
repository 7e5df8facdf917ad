import HTTPTypes
import Hummingbird

/// amoCRM's edge in front of every route: `X-Request-Id` on every response, request statistics, the
/// blocked-account 403, the 7 requests/s limit (429) and the injected faults. `/_sim/` routes pass through.
struct AmoEdgeMiddleware<Context: RequestContext>: RouterMiddleware {
    static var requestIDHeader: HTTPField.Name { HTTPField.Name("X-Request-Id")! }

    let simulator: AmoCRMSimulator

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if path.hasPrefix("/_sim/") {
            return try await Self.respond(request, context, next)
        }
        var response: Response
        var blockedAccount = false
        switch simulator.admit() {
        case .blocked:
            blockedAccount = true
            response = AmoResponse.nginxPage(status: .forbidden)
        case .tooManyRequests:
            response = AmoResponse.nginxPage(status: .tooManyRequests)
        case .allowed:
            response = try await faulted(request, context, next)
        }
        response.headers[Self.requestIDHeader] = Self.makeRequestID()
        simulator.countRequest(method: request.method.rawValue, path: path, status: response.status.code, blockedAccount: blockedAccount)
        return response
    }

    /// Plays the injected fault, as amoCRM's edge would show it.
    private func faulted(
        _ request: Request, _ context: Context, _ next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let (latency, fault) = simulator.faults.next(changes: FaultInjector.changes(request))
        if latency > 0 { try await Task.sleep(for: .milliseconds(latency)) }
        switch fault {
        case .none: return try await Self.respond(request, context, next)
        case .serverError: return AmoResponse.nginxPage(status: .badGateway)
        case .rateLimited: return AmoResponse.nginxPage(status: .tooManyRequests)  // amoCRM sends no Retry-After
        case .down: return AmoResponse.nginxPage(status: .serviceUnavailable)
        case .hang(let millis):
            try await Task.sleep(for: .milliseconds(millis))
            return AmoResponse.nginxPage(status: .gatewayTimeout)
        }
    }

    /// Runs the route, turning thrown problems into their responses so they are counted and tagged.
    private static func respond(
        _ request: Request, _ context: Context, _ next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        } catch {
            response = try AmoProblem.httpStatus(.internalServerError, detail: "Internal error").response(from: request, context: context)
        }
        return response
    }

    /// 32 lowercase hex digits, like amoCRM's.
    static func makeRequestID() -> String {
        var generator = SystemRandomNumberGenerator()
        return HexText.random(digits: 32, using: &generator)
    }
}
