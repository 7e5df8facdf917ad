import DealSyncCore
import DealSyncSimulators
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// Receives what a simulator posts (amoCRM's webhooks at `/hooks/<name>`, Bitrix24's events at `/events/<name>`)
/// on loopback, and answers with a status the test chooses, after a delay it chooses.
final class HookReceiver: Sendable {
    struct Received: Sendable {
        var path: String
        var body: String
        var headers: HTTPFields
        var at: ContinuousClock.Instant

        var contentType: String? { headers[.contentType] }
        var userAgent: String? { headers[.userAgent] }
        /// amoCRM's request id.
        var requestID: String? { headers[HTTPField.Name("X-Amocrm-Requestid")!] }

        /// A Bitrix24 event's form, parsed as PHP would.
        var form: PHPForm.Map { (try? PHPForm.parse(body)) ?? PHPForm.Map() }
        var event: String? { form["event"]?.string }
        var dealID: String? { form["data"]?["FIELDS"]?["ID"]?.string }
        func auth(_ key: String) -> String? { form["auth"]?[key]?.string }
    }

    private struct State {
        var received: [Received] = []
        var status = 200
        var delay: Duration = .zero
        /// Set when the test is over: answers still held back by a delay go out at once.
        var finished = false
    }

    /// The first path segment it receives under: `hooks` or `events`.
    let prefix: String
    private let state = Mutex(State())

    init(prefix: String) { self.prefix = prefix }

    var received: [Received] { state.withLock { $0.received } }

    /// Bitrix24 events by name.
    func events(_ name: String) -> [Received] { received.filter { $0.event == name } }

    func respond(status: Int, delay: Duration = .zero) {
        state.withLock {
            $0.status = status
            $0.delay = delay
        }
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/\(prefix)/:name") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let (status, delay) = self.state.withLock { state in
                state.received.append(Received(path: request.uri.path, body: String(buffer: body), headers: request.headers, at: .now))
                return (state.status, state.delay)
            }
            if delay > .zero { try await self.hold(for: delay) }
            return Response(status: .init(code: status))
        }
        return router
    }

    /// Runs the receiver and gives `body` its base URL (`<base>/<prefix>/<name>` receives).
    func withRunning<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        try await SimulatorHost.withRunning(router: router()) { base in
            defer { state.withLock { $0.finished = true } }
            return try await body(base)
        }
    }

    /// Waits `delay` before answering, or until the test is over, so that a long delay does not hold up the
    /// receiver's shutdown.
    private func hold(for delay: Duration) async throws {
        let deadline = ContinuousClock.now + delay
        while ContinuousClock.now < deadline, !state.withLock({ $0.finished }) {
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
