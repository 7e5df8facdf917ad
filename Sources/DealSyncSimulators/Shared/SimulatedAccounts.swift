import Hummingbird
import ServiceLifecycle

/// Many CRM accounts in one process, as a studio that runs CRMs for many small businesses has them: each account
/// is a whole simulator (its own records, OAuth pair, rate limits and webhook sender), reached at
/// `<base URL>/<name>`: amoCRM accounts by subdomain (the real one is `https://<subdomain>.amocrm.ru`), Bitrix24
/// portals by domain (`https://<domain>`).
///
/// Tests and benchmarks run a hundred tenants this way without a hundred processes; each connector's `base_url`
/// is ``baseURL(of:on:)``.
public final class SimulatedAccounts<Simulator: Sendable>: Sendable {
    /// Name → account.
    public let accounts: [String: Simulator]
    /// Every account's background work (webhook senders), to run next to the HTTP server.
    public let services: [any Service]
    private let responders: [String: RouterResponder<BasicRequestContext>]

    init(_ named: [(name: String, simulator: Simulator, router: Router<BasicRequestContext>, services: [any Service])]) throws {
        var accounts: [String: Simulator] = [:]
        var responders: [String: RouterResponder<BasicRequestContext>] = [:]
        for account in named {
            guard !account.name.isEmpty, !account.name.contains("/"), !account.name.contains("?") else {
                throw SimulatorError("an account's name must be one path segment, not '\(account.name)'")
            }
            guard accounts[account.name] == nil else { throw SimulatorError("two accounts named '\(account.name)'") }
            accounts[account.name] = account.simulator
            responders[account.name] = account.router.buildResponder()
        }
        self.accounts = accounts
        self.responders = responders
        self.services = named.flatMap(\.services)
    }

    /// The account named `name`.
    public subscript(name: String) -> Simulator? { accounts[name] }

    /// Where the account `name` answers, once the accounts listen on `url`.
    public static func baseURL(of name: String, on url: String) -> String { "\(url)/\(name)" }

    /// The accounts' routes, each under its name.
    public func makeRouter() -> AccountRoutes { AccountRoutes(responders: responders) }

    /// Runs every account on loopback with its background work, gives `body` the shared base URL, then stops.
    public func withRunning<T: Sendable>(port: Int = 0, _ body: @Sendable (String) async throws -> T) async throws -> T {
        try await SimulatorHost.withRunning(router: makeRouter(), services: services, port: port, body)
    }
}

extension SimulatedAccounts where Simulator == AmoCRMSimulator {
    /// One amoCRM account per configuration, named by its subdomain.
    public convenience init(amoCRM configurations: [AmoCRMSimulator.Configuration]) throws {
        try self.init(
            configurations.map { configuration in
                let account = AmoCRMSimulator(configuration: configuration)
                return (configuration.subdomain, account, account.makeRouter(), account.services)
            })
    }
}

extension SimulatedAccounts where Simulator == Bitrix24Simulator {
    /// One Bitrix24 portal per configuration, named by its domain.
    public convenience init(bitrix24 configurations: [Bitrix24Simulator.Configuration]) throws {
        try self.init(
            configurations.map { configuration in
                let portal = Bitrix24Simulator(configuration: configuration)
                return (configuration.domain, portal, portal.makeRouter(), portal.services)
            })
    }
}

/// Routes a request to the account named by its first path segment, with that segment taken off the path.
public struct AccountRoutes: HTTPResponderBuilder, HTTPResponder, Sendable {
    public typealias Context = BasicRequestContext

    let responders: [String: RouterResponder<BasicRequestContext>]

    public func buildResponder() -> AccountRoutes { self }

    public func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        let path = request.head.path ?? "/"
        let trimmed = path.drop { $0 == "/" }
        let end = trimmed.firstIndex { $0 == "/" || $0 == "?" } ?? trimmed.endIndex
        let name = String(trimmed[..<end])
        guard let responder = responders[name] else {
            return Response(
                status: .notFound, headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: .init(string: "no account '\(name)' here\n")))
        }
        var head = request.head
        let rest = trimmed[end...]
        head.path = rest.first == "/" ? String(rest) : "/" + rest
        return try await responder.respond(to: Request(head: head, body: request.body), context: context)
    }
}
