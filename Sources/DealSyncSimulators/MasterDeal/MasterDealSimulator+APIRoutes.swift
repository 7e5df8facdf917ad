import Foundation
import Hummingbird
import Synchronization

extension MasterDealSimulator {
    /// What a write answers: the response (stored for replays when 2xx) and the events it caused.
    struct WriteOutcome {
        var response: StoredResponse
        var events: [Event]
        var applied: Bool
    }

    // MARK: Routes

    func addAPIRoutes(to router: Router<BasicRequestContext>) {
        let tokens = configuration.tokens
        let stages = rules.stages

        router.get("/v1/deals") { request, _ in
            _ = try HTTP.client(of: request, tokens: tokens)
            return try self.listDeals(request)
        }

        router.get("/v1/deals/:id") { request, context in
            _ = try HTTP.client(of: request, tokens: tokens)
            let id = context.parameters.get("id") ?? ""
            guard let deal = self.deal(id: id) else { throw Problem.notFound("Deal \(id)") }
            return HTTP.response(200, deal.json, headers: ["ETag": deal.etag])
        }

        router.post("/v1/deals") { request, _ in
            let client = try HTTP.client(of: request, tokens: tokens)
            return try await self.idempotentWrite(request, client: client) { state, json, now in
                let draft = try DealDraft(json: json, stages: stages)
                let (deal, events) = try state.create(draft, source: client, now: now, rules: self.rules)
                let headers = ["ETag": deal.etag, "Location": "/v1/deals/\(deal.id)"]
                return WriteOutcome(
                    response: StoredResponse(status: 201, json: deal.json, headers: headers),
                    events: events, applied: true)
            }
        }

        router.patch("/v1/deals/:id") { request, context in
            try await self.updateDeal(request, context, tokens: tokens) { json in
                (try DealPatch(json: json, stages: stages), nil)
            }
        }

        router.post("/v1/deals/:id/stage") { request, context in
            try await self.updateDeal(request, context, tokens: tokens) { json in
                let members = try DealFields.object(json)
                try DealFields.rejectUnknown(members, allowed: ["stage", "reason"])
                guard let stage = members["stage"] else { throw Problem.validation("stage is required.", pointer: "/stage") }
                var patch = DealPatch()
                patch.stage = try DealFields.stage(stage, stages: stages)
                let reason = try members["reason"].map { try DealFields.optionalText($0, "reason") } ?? nil
                return (patch, reason)
            }
        }

        router.put("/v1/deals/:id/owners") { request, context in
            try await self.updateDeal(request, context, tokens: tokens) { json in
                let members = try DealFields.object(json)
                try DealFields.rejectUnknown(members, allowed: ["owner_id"])
                guard let owner = members["owner_id"] else {
                    throw Problem.validation("owner_id is required (null unassigns).", pointer: "/owner_id")
                }
                var patch = DealPatch()
                patch.ownerID = .some(try DealFields.optionalText(owner, "owner_id"))
                return (patch, nil)
            }
        }

        router.post("/v1/deals/:id/notes") { request, context in
            let client = try HTTP.client(of: request, tokens: tokens)
            let id = context.parameters.get("id") ?? ""
            return try await self.idempotentWrite(request, client: client) { state, json, now in
                let members = try DealFields.object(json)
                try DealFields.rejectUnknown(members, allowed: ["text"])
                let text = try DealFields.requiredText(members, "text")
                guard text.count <= 10_000 else {
                    throw Problem.validation("text must be at most 10000 characters.", pointer: "/text")
                }
                let note = try state.addNote(dealID: id, text: text, now: now)
                return WriteOutcome(response: StoredResponse(status: 201, json: note.json), events: [], applied: true)
            }
        }
    }

    // MARK: Handlers

    /// `GET /v1/deals`: `cursor` wins over `updated_since`; `limit` is 1...500 (default 100).
    private func listDeals(_ request: Request) throws -> Response {
        let query = request.uri.queryParameters
        var limit = 100
        if let text = query.get("limit") {
            guard let value = Int(text), (1...500).contains(value) else {
                throw Problem.invalidParameter("limit", "limit must be an integer from 1 to 500.")
            }
            limit = value
        }
        var start = PageStart.beginning
        if let token = query.get("cursor"), !token.isEmpty {
            guard let cursor = PageCursor(token: token) else { throw Problem.invalidCursor() }
            start = .after(cursor)
        } else if let text = query.get("updated_since"), !text.isEmpty {
            guard let millis = DateText.millis(text) else {
                throw Problem.invalidParameter("updated_since", "updated_since must be ISO-8601 with an offset.")
            }
            start = .updatedSince(millis)
        }
        let page = state.withLock { Self.page(of: $0.deals.values, from: start, limit: limit) }
        return HTTP.response(
            200,
            .object([
                "items": .array(page.items.map(\.json)),
                "next_cursor": page.next.map(JSONValue.string) ?? .null,
            ]))
    }

    /// A write to an existing deal: parses the body into a patch, honours `If-Match`, answers the deal.
    private func updateDeal(
        _ request: Request, _ context: BasicRequestContext, tokens: [String: String],
        patch makePatch: (JSONValue) throws -> (DealPatch, reason: String?)
    ) async throws -> Response {
        let client = try HTTP.client(of: request, tokens: tokens)
        let id = context.parameters.get("id") ?? ""
        let ifMatch = try HTTP.ifMatch(request)
        return try await idempotentWrite(request, client: client) { state, json, now in
            let before = state.deals[id]?.version
            guard before != nil else { throw Problem.notFound("Deal \(id)") }
            if let ifMatch, ifMatch != before {
                throw Problem.preconditionFailed(currentVersion: before ?? 0)
            }
            let (patch, reason) = try makePatch(json)
            let (deal, events) = try state.update(
                id: id, patch: patch, ifMatch: ifMatch, source: client, now: now,
                rules: self.rules, reason: reason)
            return WriteOutcome(
                response: StoredResponse(status: 200, json: deal.json, headers: ["ETag": deal.etag]),
                events: events, applied: deal.version != before)
        }
    }

    /// Runs a write once per (client, `Idempotency-Key`): a repeat with the same method, path and body gets the
    /// stored answer plus `Idempotent-Replayed: true`; a repeat with another request gets 422.
    private func idempotentWrite(
        _ request: Request, client: String,
        _ operation: (inout State, JSONValue, Int64) throws -> WriteOutcome
    ) async throws -> Response {
        guard let key = request.headers[HTTP.idempotencyKey]?.trimmingCharacters(in: .whitespaces), !key.isEmpty
        else { throw Problem.missingIdempotencyKey() }
        guard key.count <= 255 else { throw Problem.invalidIdempotencyKey() }
        let body = try await HTTP.body(of: request)
        let fingerprint = IdempotencyStore.Fingerprint(method: request.method.rawValue, path: request.uri.path, body: body)
        let now = self.now
        let (response, replayed, outgoing) = try state.withLock { state in
            switch state.idempotency.decide(client: client, key: key, fingerprint: fingerprint, now: now) {
            case .replay(let stored):
                state.idempotentReplays += 1
                return (stored, true, [State.Outgoing]())
            case .reuse:
                throw Problem.idempotencyKeyReuse()
            case .proceed:
                guard case .json(let json) = fingerprint.body else { throw Problem.malformedJSON() }
                let outcome = try operation(&state, json, now)
                state.idempotency.remember(
                    client: client, key: key, fingerprint: fingerprint,
                    response: outcome.response, now: now)
                if outcome.applied { state.writesApplied += 1 }
                return (outcome.response, false, state.record(outcome.events))
            }
        }
        publisher.publish(outgoing)
        return response.response(replayed: replayed)
    }
}
