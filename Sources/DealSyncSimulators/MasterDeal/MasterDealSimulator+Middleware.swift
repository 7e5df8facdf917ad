import Hummingbird

extension MasterDealSimulator {
    /// Answers every error as `application/problem+json` and counts API requests per route template and status.
    ///
    /// Sits outside ``FaultMiddleware`` so simulated faults are counted too; `/_sim/` requests are not counted.
    struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
        let count: @Sendable (_ route: String, _ status: Int) -> Void

        func handle(
            _ request: Request, context: Context,
            next: (Request, Context) async throws -> Response
        ) async throws -> Response {
            let response: Response
            do {
                response = try await next(request, context)
            } catch let problem as Problem {
                response = problem.response()
            } catch let error as any HTTPResponseError {
                response = Problem.fromHTTPStatus(error.status.code).response()
            } catch {
                response = Problem.internalError().response()
            }
            if !request.uri.path.hasPrefix("/_sim/") {
                count("\(request.method.rawValue) \(context.endpointPath ?? "unmatched")", response.status.code)
            }
            return response
        }
    }
}
