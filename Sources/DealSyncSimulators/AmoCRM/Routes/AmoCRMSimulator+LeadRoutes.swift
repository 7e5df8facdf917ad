import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// `/api/v4/leads`: list, one, create, update.
extension AmoCRMSimulator {
    static let maxBodyBytes = 16 << 20

    func addLeadRoutes(to router: Router<BasicRequestContext>) {
        router.get("/api/v4/leads") { request, _ in try self.listLeads(request) }
        router.get("/api/v4/leads/:id") { request, context in
            _ = try self.authenticate(request)
            guard let id = context.parameters.get("id", as: Int.self) else { throw AmoProblem.notFound }
            guard let lead = self.book.withLock({ $0.live(id) }) else { return AmoResponse.noContent() }
            let with = AmoLeadQuery.parse(request.uri.query).with
            return AmoResponse.hal(
                AmoLeadJSON.lead(
                    lead, catalog: self.catalog, base: Self.base(request), with: with,
                    query: request.uri.query))
        }
        router.post("/api/v4/leads") { request, _ in try await self.createLeads(request) }
        router.patch("/api/v4/leads") { request, _ in try await self.patchLeads(request, id: nil) }
        router.patch("/api/v4/leads/:id") { request, context in
            guard let id = context.parameters.get("id", as: Int.self) else { throw AmoProblem.notFound }
            return try await self.patchLeads(request, id: id)
        }
    }

    private func listLeads(_ request: Request) throws -> Response {
        _ = try authenticate(request)
        let query = AmoLeadQuery.parse(request.uri.query)
        let leads = book.withLock { $0.all(includingDeleted: false) }
        let unsearchable = query.search == nil ? [] : unsearchableLeads()
        let (page, hasMore) = query.select(from: leads, catalog: catalog, unsearchable: unsearchable)
        guard !page.isEmpty else { return AmoResponse.noContent() }
        let base = Self.base(request)
        let href = { (number: Int) in "\(base)/api/v4/leads?\(AmoLeadQuery.link(raw: request.uri.query, page: number, limit: query.limit))"
        }
        var links: [(String, AmoJSON)] = [("self", .object([("href", .string(href(query.page)))]))]
        if hasMore { links.append(("next", .object([("href", .string(href(query.page + 1)))]))) }
        if query.page > 1 {
            links.append(("first", .object([("href", .string(href(1)))])))
            links.append(("prev", .object([("href", .string(href(query.page - 1)))])))
        }
        // Only `_links` and `_embedded` at the top (no `_page`); each lead's link repeats the request's query string.
        let rendered = page.map { AmoLeadJSON.lead($0, catalog: catalog, base: base, with: query.with, query: request.uri.query) }
        return AmoResponse.hal(.object([("_links", .object(links)), ("_embedded", .object([("leads", .array(rendered))]))]))
    }

    private func createLeads(_ request: Request) async throws -> Response {
        let actor = try authenticateWrite(request)
        let elements = try await batch(request)
        var writes: [AmoLeadWrite] = []
        var groups: [AmoValidationGroup] = []
        for (index, element) in elements.enumerated() {
            let (write, issues) = AmoLeadWrite.parse(element, catalog: catalog)
            writes.append(write)
            if !issues.isEmpty { groups.append(.init(requestID: write.requestID ?? String(index), issues: issues)) }
        }
        guard groups.isEmpty else { throw AmoProblem.validation(groups) }
        if let timeout = gatewayTimeout(count: writes.count) {
            if configuration.gatewayTimeoutStillWrites { _ = createLeads(writes, actor: actor) }
            return timeout
        }
        let created = try createLeads(writes, actor: actor).get()
        let base = Self.base(request)
        return AmoResponse.hal(
            .object([
                ("_links", AmoLeadJSON.links("\(base)/api/v4/leads")),
                (
                    "_embedded",
                    .object([
                        (
                            "leads",
                            .array(
                                zip(writes.indices, created).map { index, lead in
                                    .object([
                                        ("id", .int(lead.id)),
                                        ("request_id", .string(writes[index].requestID ?? String(index))),
                                        ("_links", AmoLeadJSON.links("\(base)/api/v4/leads/\(lead.id)")),
                                    ])
                                })
                        )
                    ])
                ),
            ]))
    }

    private func patchLeads(_ request: Request, id: Int?) async throws -> Response {
        let actor = try authenticateWrite(request)
        let elements: [AmoJSON]
        if id == nil {
            elements = try await batch(request)
        } else {
            let body = try await Self.json(request)
            guard body.members != nil else { throw AmoProblem.badRequest("Request body must be an object") }
            elements = [body]
        }
        var writes: [AmoLeadWrite] = []
        var groups: [AmoValidationGroup] = []
        for (index, element) in elements.enumerated() {
            var (write, issues) = AmoLeadWrite.parse(element, catalog: catalog)
            if let id { write.id = id }
            writes.append(write)
            if !issues.isEmpty { groups.append(.init(requestID: write.requestID ?? String(index), issues: issues)) }
        }
        guard groups.isEmpty else { throw AmoProblem.validation(groups) }
        if let timeout = gatewayTimeout(count: writes.count) {
            if configuration.gatewayTimeoutStillWrites { _ = updateLeads(writes, actor: actor) }
            return timeout
        }
        let changes = try updateLeads(writes, actor: actor).get()
        let base = Self.base(request)
        let items: [AmoJSON] = changes.map { change in
            .object([
                ("id", .int(change.lead.id)), ("updated_at", .int(change.lead.updatedAt)),
                ("_links", AmoLeadJSON.links("\(base)/api/v4/leads/\(change.lead.id)")),
            ])
        }
        if id != nil, let item = items.first { return AmoResponse.hal(item) }
        return AmoResponse.hal(
            .object([
                ("_links", AmoLeadJSON.links("\(base)/api/v4/leads")),
                ("_embedded", .object([("leads", .array(items))])),
            ]))
    }

    // MARK: Shared pieces

    /// A JSON array body of at most ``Configuration/maxBatchSize`` elements.
    private func batch(_ request: Request) async throws -> [AmoJSON] {
        let body = try await Self.json(request)
        guard let elements = body.array else { throw AmoProblem.badRequest("Request body must be an array") }
        guard !elements.isEmpty else { throw AmoProblem.badRequest("Request body is empty") }
        guard elements.count <= configuration.maxBatchSize else {
            throw AmoProblem.badRequest("Maximum \(configuration.maxBatchSize) entities per request")
        }
        return elements
    }

    private func gatewayTimeout(count: Int) -> Response? {
        guard let limit = configuration.gatewayTimeoutBatchSize, count > limit else { return nil }
        return AmoResponse.nginxPage(status: .gatewayTimeout)
    }

    static func json(_ request: Request) async throws -> AmoJSON {
        let buffer = try await request.body.collect(upTo: maxBodyBytes)
        do {
            return try AmoJSONParser.parse(Array(buffer.readableBytesView))
        } catch {
            throw AmoProblem.badRequest("Request body is not valid JSON")
        }
    }

    /// Where links point: the host the client called, as `https://` — amoCRM is only served over TLS, so its links
    /// always say so, whatever scheme the simulator itself is reached by.
    static func base(_ request: Request) -> String {
        "https://\(request.head.authority ?? "127.0.0.1")"
    }

    // MARK: Auth

    /// The user the bearer token acts as, else 401 problem JSON.
    func authenticate(_ request: Request) throws(AmoProblem) -> Int {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
            throw AmoProblem.unauthorized
        }
        let token = String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
        let now = Double(self.now)
        switch oauth.withLock({ $0.authenticate(token, now: now) }) {
        case .success(let user): return user
        case .failure: throw AmoProblem.unauthorized
        }
    }

    /// ``authenticate(_:)``, then 402 while the subscription is expired.
    func authenticateWrite(_ request: Request) throws(AmoProblem) -> Int {
        let user = try authenticate(request)
        if subscriptionExpired { throw AmoProblem.paymentRequired }
        return user
    }
}
