import Foundation
import Hummingbird
import NIOCore
import Synchronization

/// `/_sim/` routes: the salesperson, the administrator and the outages. No auth, no limit, no faults.
///
/// - `GET /_sim/leads` every lead, deleted ones too; `POST /_sim/leads` and `PATCH /_sim/leads/{id}` take API v4
///   fields plus `user_id` (the salesperson); `DELETE /_sim/leads/{id}?user_id=`; `POST /_sim/leads/{id}/restore`.
/// - `POST /_sim/automation` `{lead_id, old_status_id?, old_pipeline_id?, destination?}`: the short Digital Pipeline form.
/// - `GET/PUT /_sim/faults` (``FaultSettings`` JSON); `GET /_sim/webhooks` (every attempt);
///   `POST /_sim/webhooks/pause|resume`; `POST /_sim/hooks/enable`; `POST /_sim/block|unblock`;
///   `PUT /_sim/subscription {expired}`; `POST /_sim/oauth/revoke`; `POST /_sim/oauth/authorize` → `{code}`;
///   `POST /_sim/clock/advance {seconds}`; `GET /_sim/stats` (``AmoStats``).
extension AmoCRMSimulator {
    func addControlRoutes(to router: Router<BasicRequestContext>) {
        router.get("/_sim/leads") { request, _ in
            let base = Self.base(request)
            return AmoResponse.json(.array(self.allLeads().map { AmoLeadJSON.lead($0, catalog: self.catalog, base: base) }))
        }
        router.post("/_sim/leads") { request, _ in
            let body = try await Self.json(request)
            let lead = try self.createAsSalesperson(userID: Self.userID(body, default: self.configuration.oauth.userID), json: body)
            return AmoResponse.json(AmoLeadJSON.lead(lead, catalog: self.catalog, base: Self.base(request)), status: .created)
        }
        router.patch("/_sim/leads/:id") { request, context in
            let id = try context.parameters.require("id", as: Int.self)
            let body = try await Self.json(request)
            guard self.book.withLock({ $0.live(id) }) != nil else { throw AmoProblem.notFound }
            let lead = try self.editAsSalesperson(
                leadID: id, userID: Self.userID(body, default: self.configuration.oauth.userID), json: body)
            return AmoResponse.json(AmoLeadJSON.lead(lead, catalog: self.catalog, base: Self.base(request)))
        }
        router.delete("/_sim/leads/:id") { request, context in
            let id = try context.parameters.require("id", as: Int.self)
            let user = Self.queryUser(request) ?? self.configuration.oauth.userID
            guard self.deleteAsSalesperson(leadID: id, userID: user) else { throw AmoProblem.notFound }
            return AmoResponse.noContent()
        }
        router.post("/_sim/leads/:id/restore") { request, context in
            let id = try context.parameters.require("id", as: Int.self)
            let user = Self.queryUser(request) ?? self.configuration.oauth.userID
            guard self.restoreAsSalesperson(leadID: id, userID: user) else { throw AmoProblem.notFound }
            return AmoResponse.noContent()
        }
        router.post("/_sim/automation") { request, _ in
            let body = try await Self.json(request)
            guard let id = body["lead_id"]?.int,
                self.sendAutomationWebhook(
                    leadID: id, oldStatusID: body["old_status_id"]?.int,
                    oldPipelineID: body["old_pipeline_id"]?.int, destination: body["destination"]?.string)
            else { throw AmoProblem.notFound }
            return AmoResponse.noContent()
        }
        addOperatorRoutes(to: router)
    }

    /// Faults, webhooks, blocking, subscription, OAuth, clock, statistics.
    private func addOperatorRoutes(to router: Router<BasicRequestContext>) {
        router.get("/_sim/faults") { _, _ in try Self.encoded(self.faults.settings) }
        router.put("/_sim/faults") { request, _ in
            let buffer = try await request.body.collect(upTo: 1 << 20)
            let settings = try JSONDecoder().decode(FaultSettings.self, from: Data(buffer.readableBytesView))
            self.faults.update(settings)
            return try Self.encoded(settings)
        }
        router.get("/_sim/webhooks") { _, _ in
            AmoResponse.json(
                .array(
                    self.webhookHistory.map { attempt in
                        .object([
                            ("delivery_id", .int(attempt.deliveryID)), ("destination", .string(attempt.destination)),
                            ("attempt", .int(attempt.attempt)), ("status", .int(attempt.status)), ("succeeded", .bool(attempt.succeeded)),
                            ("request_id", .string(attempt.requestID)), ("at", .double(attempt.at.timeIntervalSince1970)),
                            ("automation", .bool(attempt.isAutomation)), ("body", .string(attempt.body)),
                        ])
                    }))
        }
        router.post("/_sim/webhooks/pause") { _, _ in
            self.pauseWebhooks(); return AmoResponse.noContent()
        }
        router.post("/_sim/webhooks/resume") { _, _ in
            self.resumeWebhooks(); return AmoResponse.noContent()
        }
        router.post("/_sim/hooks/enable") { _, _ in
            self.enableHooks(); return AmoResponse.noContent()
        }
        router.post("/_sim/block") { _, _ in
            self.block(); return AmoResponse.noContent()
        }
        router.post("/_sim/unblock") { _, _ in
            self.unblock(); return AmoResponse.noContent()
        }
        router.put("/_sim/subscription") { request, _ in
            let body = try await Self.json(request)
            guard let expired = body["expired"]?.bool else { throw AmoProblem.badRequest("expected {\"expired\": bool}") }
            self.setSubscriptionExpired(expired)
            return AmoResponse.noContent()
        }
        router.post("/_sim/oauth/revoke") { _, _ in
            self.revokeIntegration(); return AmoResponse.noContent()
        }
        router.post("/_sim/oauth/authorize") { _, _ in
            AmoResponse.json(.object([("code", .string(self.issueAuthorizationCode()))]), status: .created)
        }
        router.post("/_sim/clock/advance") { request, _ in
            let body = try await Self.json(request)
            guard let seconds = body["seconds"]?.int, seconds >= 0 else { throw AmoProblem.badRequest("expected {\"seconds\": int}") }
            self.advanceClock(bySeconds: seconds)
            return AmoResponse.json(.object([("now", .int(self.now))]))
        }
        router.get("/_sim/stats") { _, _ in try Self.encoded(self.stats) }
    }

    private static func userID(_ body: AmoJSON, default fallback: Int) -> Int { body["user_id"]?.int ?? fallback }

    private static func queryUser(_ request: Request) -> Int? {
        request.uri.queryParameters.get("user_id").flatMap { Int($0) }
    }

    private static func encoded(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(value)
        return AmoResponse.make(status: .ok, contentType: "application/json", text: String(decoding: data, as: UTF8.self))
    }
}
