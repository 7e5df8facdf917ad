import Foundation
import Hummingbird

extension MasterDealSimulator {
    /// `/_sim/…`: no auth, never faulted. They play the MasterDeal UI and drive the simulator from outside.
    ///
    /// | route | effect |
    /// |---|---|
    /// | `GET /_sim/deals`, `GET /_sim/deals/{id}` | every deal (`?created_since=<epoch ms>`: those created since) / one deal |
    /// | `POST /_sim/deals` | create as a user (a create body, optional `id`) → 201 |
    /// | `PATCH /_sim/deals/{id}` | merge-patch as a user (bumps the version, events with `masterdeal-ui`) |
    /// | `POST /_sim/deals/{id}/emit` | `{type: OfferApproved\|BillingReady}` → the event |
    /// | `GET`/`PUT /_sim/faults` | ``FaultSettings`` JSON |
    /// | `GET`/`PUT /_sim/event-targets` | `[{url, secret}]` (GET shows URLs only) |
    /// | `POST /_sim/events/pause`, `/resume` | drop events while paused |
    /// | `GET /_sim/events` | event history |
    /// | `GET /_sim/stats` | ``Stats`` |
    func addControlRoutes(to router: Router<BasicRequestContext>) {
        router.get("/_sim/deals") { request, _ in
            // `?created_since=<epoch ms>`: only the deals created then or later (a benchmark watching its own).
            let since = request.uri.queryParameters.get("created_since").flatMap { Int64($0) } ?? .min
            return HTTP.response(200, .object(["items": .array(self.allDeals().filter { $0.createdAt >= since }.map(\.json))]))
        }
        router.get("/_sim/deals/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard let deal = self.deal(id: id) else { throw Problem.notFound("Deal \(id)") }
            return HTTP.response(200, deal.json, headers: ["ETag": deal.etag])
        }
        router.post("/_sim/deals") { request, _ in
            let deal = try self.createAsUser(try HTTP.json(try await HTTP.body(of: request)))
            return HTTP.response(201, deal.json, headers: ["ETag": deal.etag, "Location": "/v1/deals/\(deal.id)"])
        }
        router.patch("/_sim/deals/:id") { request, context in
            let changes = try HTTP.json(try await HTTP.body(of: request))
            let deal = try self.editAsUser(
                id: context.parameters.get("id") ?? "", changes: changes,
                ifMatch: try HTTP.ifMatch(request))
            return HTTP.response(200, deal.json, headers: ["ETag": deal.etag])
        }
        router.post("/_sim/deals/:id/emit") { request, context in
            let body = try HTTP.json(try await HTTP.body(of: request))
            guard let name = body["type"]?.stringValue, let kind = Event.Kind(rawValue: name) else {
                throw Problem.validation("type must be OfferApproved or BillingReady.", pointer: "/type")
            }
            let event = try self.emit(kind, dealID: context.parameters.get("id") ?? "")
            return HTTP.response(200, event.json)
        }
        router.get("/_sim/faults") { _, _ in
            try Self.codableResponse(self.faults.settings)
        }
        router.put("/_sim/faults") { request, _ in
            let settings = try Self.decode(FaultSettings.self, try await HTTP.body(of: request))
            self.faults.update(settings)
            return try Self.codableResponse(self.faults.settings)
        }
        router.get("/_sim/event-targets") { _, _ in
            HTTP.response(200, .array(self.eventTargets.map { .object(["url": .string($0.url)]) }))
        }
        router.put("/_sim/event-targets") { request, _ in
            let targets = try Self.decode([EventTarget].self, try await HTTP.body(of: request))
            self.setEventTargets(targets)
            return HTTP.response(200, .array(targets.map { .object(["url": .string($0.url)]) }))
        }
        router.post("/_sim/events/pause") { _, _ in
            self.pauseEvents()
            return HTTP.response(200, .object(["paused": true]))
        }
        router.post("/_sim/events/resume") { _, _ in
            self.resumeEvents()
            return HTTP.response(200, .object(["paused": false]))
        }
        router.get("/_sim/events") { _, _ in
            HTTP.response(200, .object(["items": .array(self.eventHistory.map(\.json))]))
        }
        router.get("/_sim/stats") { _, _ in
            try Self.codableResponse(self.stats)
        }
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ data: Data) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch {
            throw Problem.validation("The body does not have the expected shape.")
        }
    }

    private static func codableResponse(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return HTTP.response(200, try JSONValue.parse(try encoder.encode(value)))
    }
}
