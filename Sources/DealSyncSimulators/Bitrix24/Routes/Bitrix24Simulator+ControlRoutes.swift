import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// `/_sim/` routes: the salesperson, the administrator and the outages. No auth, no limits, no faults.
///
/// - `GET /_sim/deals` every deal as `crm.deal.get` writes it; `POST /_sim/deals` `{user_id, fields}` creates;
///   `PATCH /_sim/deals/{id}` `{user_id, fields, automation}` edits; `DELETE /_sim/deals/{id}?user_id=`;
///   `POST /_sim/deals/{id}/move` `{category_id, stage_id, user_id}` moves to another funnel.
/// - `GET/PUT /_sim/faults` (``FaultSettings`` JSON plus `moved_to`, the new address of a moved portal).
/// - `POST /_sim/events/pause|resume`; `GET /_sim/events` (every delivery attempt); `GET /_sim/events/handlers`;
///   `PUT /_sim/events/slow` `{handler, slow}`.
/// - `POST /_sim/operating/exhaust` `{method}` drives a method to its operating limit; `GET /_sim/operating` lists the
///   accounts (see ``Bitrix24Simulator/exhaustOperatingTime(method:)``).
/// - `POST /_sim/oauth/revoke`; `POST /_sim/oauth/reinstall` `{client_id, client_secret}`; `PUT /_sim/subscription`
///   `{ended}` (the application's); `PUT /_sim/plan` `{commercial}` (the portal's); `GET /_sim/stats` (``BitrixStats``);
///   `POST /_sim/clock/advance` `{seconds}`, `/_sim/clock/freeze` `{at}`, `/_sim/clock/unfreeze`.
extension Bitrix24Simulator {
    func addControlRoutes(to router: Router<BasicRequestContext>) {
        router.get("/_sim/deals") { _, _ in
            BitrixResponse.json(.array(self.allDeals().map { BitrixDealJSON.full($0, portal: self.portal) }))
        }
        router.post("/_sim/deals") { request, _ in
            let body = try await Self.controlBody(request)
            let deal = self.addDeal(BitrixDealWrite(Self.fields(body)), actor: self.userID(body))
            return BitrixResponse.json(BitrixDealJSON.full(deal, portal: self.portal), status: .created)
        }
        router.patch("/_sim/deals/:id") { request, context in
            let id = try context.parameters.require("id", as: Int.self)
            let body = try await Self.controlBody(request)
            guard
                let deal = self.updateDeal(
                    id, BitrixDealWrite(Self.fields(body)), actor: self.userID(body),
                    automation: body["automation"]?.bool ?? false)
            else { return Self.controlError(.notFound, "no such deal") }
            return BitrixResponse.json(BitrixDealJSON.full(deal, portal: self.portal))
        }
        router.delete("/_sim/deals/:id") { request, context in
            let id = try context.parameters.require("id", as: Int.self)
            let user = request.uri.queryParameters.get("user_id").flatMap { Int($0) } ?? self.configuration.oauth.userID
            return self.deleteAsSalesperson(dealID: id, userID: user)
                ? BitrixResponse.noContent()
                : Self.controlError(.notFound, "no such deal")
        }
        router.post("/_sim/deals/:id/move") { request, context in
            let id = try context.parameters.require("id", as: Int.self)
            let body = try await Self.controlBody(request)
            guard let category = body["category_id"]?.int ?? body["category_id"]?.string.flatMap({ Int($0) }) else {
                return Self.controlError(.badRequest, "expected {\"category_id\": int, \"stage_id\": string}")
            }
            guard let deal = self.moveDeal(id, toCategory: category, stageID: body["stage_id"]?.string, actor: self.userID(body))
            else { return Self.controlError(.notFound, "no such deal or funnel") }
            return BitrixResponse.json(BitrixDealJSON.full(deal, portal: self.portal))
        }
        addOperatorRoutes(to: router)
        addOperatingRoutes(to: router)
    }

    /// Faults, events, OAuth, clock, statistics.
    private func addOperatorRoutes(to router: Router<BasicRequestContext>) {
        router.get("/_sim/faults") { _, _ in try self.faultsJSON() }
        router.put("/_sim/faults") { request, _ in
            let data = Data(try await request.body.collect(upTo: 1 << 20).readableBytesView)
            self.faults.update(try JSONDecoder().decode(FaultSettings.self, from: data))
            self.movedTo = BitrixJSON.parse(String(decoding: data, as: UTF8.self))?["moved_to"]?.string
            return try self.faultsJSON()
        }
        router.post("/_sim/events/pause") { _, _ in
            self.pauseEvents(); return BitrixResponse.noContent()
        }
        router.post("/_sim/events/resume") { _, _ in
            self.resumeEvents(); return BitrixResponse.noContent()
        }
        router.get("/_sim/events") { _, _ in
            BitrixResponse.json(
                .array(
                    self.eventHistory.map { attempt in
                        .object([
                            ("delivery_id", .int(attempt.deliveryID)), ("event", .string(attempt.event)),
                            ("event_handler_id", .int(attempt.handlerID)), ("handler", .string(attempt.handler)),
                            ("deal_id", .int(attempt.dealID)), ("status", .int(attempt.status)), ("succeeded", .bool(attempt.succeeded)),
                            ("deprioritised", .bool(attempt.deprioritised)), ("response_ms", .int(attempt.responseMillis)),
                            ("at", .double(attempt.at.timeIntervalSince1970)), ("body", .string(attempt.body)),
                        ])
                    }))
        }
        router.get("/_sim/events/handlers") { _, _ in
            BitrixResponse.json(
                .array(
                    self.eventSubscriptions.map { subscription in
                        .object([
                            ("id", .int(subscription.id)), ("event", .string(subscription.event)),
                            ("handler", .string(subscription.handler)), ("kind", .string(subscription.kind.rawValue)),
                        ])
                    }))
        }
        router.put("/_sim/events/slow") { request, _ in
            let body = try await Self.controlBody(request)
            guard let handler = body["handler"]?.string else { return Self.controlError(.badRequest, "expected {\"handler\": url}") }
            self.setHandlerSlow(handler, body["slow"]?.bool ?? true)
            return BitrixResponse.noContent()
        }
        router.post("/_sim/oauth/revoke") { _, _ in
            self.revokeOAuth(); return BitrixResponse.noContent()
        }
        router.post("/_sim/oauth/reinstall") { request, _ in
            let body = try await Self.controlBody(request)
            guard let id = body["client_id"]?.string, let secret = body["client_secret"]?.string, !id.isEmpty, !secret.isEmpty else {
                return Self.controlError(.badRequest, "expected {\"client_id\": string, \"client_secret\": string}")
            }
            self.reinstallApplication(clientID: id, clientSecret: secret)
            return BitrixResponse.noContent()
        }
        router.put("/_sim/subscription") { request, _ in
            guard let ended = try await Self.controlBody(request)["ended"]?.bool else {
                return Self.controlError(.badRequest, "expected {\"ended\": bool}")
            }
            self.subscriptionEnded = ended
            return BitrixResponse.noContent()
        }
        router.put("/_sim/plan") { request, _ in
            guard let commercial = try await Self.controlBody(request)["commercial"]?.bool else {
                return Self.controlError(.badRequest, "expected {\"commercial\": bool}")
            }
            self.commercialPlanEnded = !commercial
            return BitrixResponse.noContent()
        }
        router.get("/_sim/stats") { _, _ in
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let text = String(decoding: try encoder.encode(self.stats), as: UTF8.self)
            return BitrixResponse.make(status: .ok, contentType: "application/json", text: text)
        }
        router.post("/_sim/clock/advance") { request, _ in
            let body = try await Self.controlBody(request)
            guard let seconds = body["seconds"]?.int, seconds >= 0 else {
                return Self.controlError(.badRequest, "expected {\"seconds\": int}")
            }
            self.advanceClock(bySeconds: seconds)
            return BitrixResponse.json(.object([("now", .int(self.now))]))
        }
        router.post("/_sim/clock/freeze") { request, _ in
            self.freezeClock(at: try await Self.controlBody(request)["at"]?.int)
            return BitrixResponse.json(.object([("now", .int(self.now))]))
        }
        router.post("/_sim/clock/unfreeze") { _, _ in
            self.unfreezeClock()
            return BitrixResponse.json(.object([("now", .int(self.now))]))
        }
    }

    private func faultsJSON() throws -> Response {
        let data = try JSONEncoder().encode(faults.settings)
        var members = BitrixJSON.parse(String(decoding: data, as: UTF8.self))?.members ?? []
        members.append(("moved_to", .string(movedTo)))
        return BitrixResponse.json(.object(members))
    }

    /// A JSON object body; an empty body is an empty object.
    private static func controlBody(_ request: Request) async throws -> BitrixJSON {
        let text = String(buffer: try await request.body.collect(upTo: 1 << 20))
        if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return .object([]) }
        guard let json = BitrixJSON.parse(text), json.members != nil else {
            throw BitrixError(.badRequest, "INVALID_JSON", "the body must be a JSON object")
        }
        return json
    }

    /// `fields`, or the body's other members when there is no `fields`.
    private static func fields(_ body: BitrixJSON) -> QueryForm.Map {
        let source = body["fields"] ?? .object((body.members ?? []).filter { !["user_id", "automation"].contains($0.0) })
        return BitrixParameters.value(of: source).map ?? QueryForm.Map()
    }

    private func userID(_ body: BitrixJSON) -> Int {
        body["user_id"]?.int ?? body["user_id"]?.string.flatMap { Int($0) } ?? configuration.oauth.userID
    }

    private static func controlError(_ status: HTTPResponse.Status, _ message: String) -> Response {
        BitrixResponse.json(.object([("error", .string(message))]), status: status)
    }
}
