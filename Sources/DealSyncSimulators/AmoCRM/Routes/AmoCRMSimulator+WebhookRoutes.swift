import Hummingbird
import Synchronization

/// `/api/v4/webhooks`: list, subscribe (or change settings), unsubscribe.
extension AmoCRMSimulator {
    func addWebhookRoutes(to router: Router<BasicRequestContext>) {
        router.get("/api/v4/webhooks") { request, _ in
            _ = try self.authenticate(request)
            let subscriptions = self.hub.subscriptions
            guard !subscriptions.isEmpty else { return AmoResponse.noContent() }
            return AmoResponse.hal(
                .object([
                    ("_total_items", .int(subscriptions.count)),
                    ("_links", AmoLeadJSON.links("\(Self.base(request))/api/v4/webhooks")),
                    ("_embedded", .object([("webhooks", .array(subscriptions.map(self.webhookJSON)))])),
                ]))
        }
        router.post("/api/v4/webhooks") { request, _ in
            let user = try self.authenticateWrite(request)
            let body = try await Self.json(request)
            var issues: [AmoValidationIssue] = []
            let destination = body["destination"]?.string ?? ""
            if !(destination.hasPrefix("http://") || destination.hasPrefix("https://")) {
                issues.append(.notSupportedChoice("destination"))
            }
            let settings = body["settings"]?.array?.compactMap(\.string) ?? []
            if settings.isEmpty { issues.append(.missing("settings")) }
            for (index, setting) in settings.enumerated() where !AmoWebhookSubscription.allLeadEvents.contains(setting) {
                issues.append(.notSupportedChoice("settings.\(index)"))
            }
            guard issues.isEmpty else { throw AmoProblem.validation([.init(requestID: "0", issues: issues)]) }
            let subscription = self.hub.subscribe(destination: destination, settings: settings, by: user, now: self.now)
            return AmoResponse.hal(self.webhookJSON(subscription), status: .created)
        }
        router.delete("/api/v4/webhooks") { request, _ in
            _ = try self.authenticateWrite(request)
            let body = try await Self.json(request)
            guard let destination = body["destination"]?.string else {
                throw AmoProblem.validation([.init(requestID: "0", issues: [.missing("destination")])])
            }
            guard self.hub.unsubscribe(destination: destination) else { throw AmoProblem.notFound }
            return AmoResponse.noContent()
        }
    }

    func webhookJSON(_ subscription: AmoWebhookSubscription) -> AmoJSON {
        .object([
            ("id", .int(subscription.id)), ("destination", .string(subscription.destination)),
            ("created_at", .int(subscription.createdAt)), ("updated_at", .int(subscription.updatedAt)),
            ("account_id", .int(catalog.accountID)), ("created_by", .int(subscription.createdBy)), ("sort", .int(subscription.sort)),
            ("disabled", .bool(subscription.disabled)), ("settings", .array(subscription.settings.map { .string($0) })),
        ])
    }
}
