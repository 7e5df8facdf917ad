import Hummingbird
import Synchronization

/// Reference data and webhook subscriptions: `/api/v4/leads/pipelines` (and one pipeline, its statuses, one status),
/// `/api/v4/users` (and one user), `/api/v4/leads/custom_fields` (and one field), `/api/v4/account`,
/// `/api/v4/webhooks`.
extension AmoCRMSimulator {
    func addAccountRoutes(to router: Router<BasicRequestContext>) {
        router.get("/api/v4/leads/pipelines") { request, _ in
            _ = try self.authenticate(request)
            let json = self.catalogJSON(request)
            return AmoResponse.hal(
                .object([
                    ("_total_items", .int(self.catalog.pipelines.count)),
                    ("_links", AmoLeadJSON.links("\(json.base)/api/v4/leads/pipelines")),
                    ("_embedded", .object([("pipelines", .array(self.catalog.pipelines.map(json.pipeline)))])),
                ]))
        }
        router.get("/api/v4/leads/custom_fields") { request, _ in
            _ = try self.authenticate(request)
            let json = self.catalogJSON(request)
            return AmoResponse.hal(
                .object([
                    ("_total_items", .int(self.catalog.customFields.count)),
                    ("_page", .int(1)),
                    ("_links", AmoLeadJSON.links("\(json.base)/api/v4/leads/custom_fields")),
                    ("_embedded", .object([("custom_fields", .array(self.catalog.customFields.map(json.field)))])),
                ]))
        }
        router.get("/api/v4/users") { request, _ in try self.listUsers(request) }
        router.get("/api/v4/account") { request, _ in
            let user = try self.authenticate(request)
            return AmoResponse.hal(
                .object([
                    ("id", .int(self.catalog.accountID)), ("name", .string(self.catalog.subdomain)),
                    ("subdomain", .string(self.catalog.subdomain)), ("current_user_id", .int(user)),
                    ("country", .string("RU")), ("currency", .string("RUB")), ("currency_symbol", .string("₽")),
                    ("customers_mode", .string("disabled")), ("is_unsorted_on", .bool(true)), ("is_loss_reason_enabled", .bool(true)),
                    ("_links", AmoLeadJSON.links("\(Self.base(request))/api/v4/account")),
                ]))
        }
        addReferenceItemRoutes(to: router)
        addWebhookRoutes(to: router)
    }

    func catalogJSON(_ request: Request) -> AmoCatalogJSON { AmoCatalogJSON(catalog: catalog, base: Self.base(request)) }

    /// Users are listed to administrators only (others get 403); pages of `limit` with `_page_count`.
    private func listUsers(_ request: Request) throws -> Response {
        let userID = try authenticate(request)
        guard catalog.user(userID)?.isAdmin ?? false else { throw AmoProblem.forbidden }
        let query = AmoLeadQuery.parse(request.uri.query)
        let start = (query.page - 1) * query.limit
        guard start < catalog.users.count else { return AmoResponse.noContent() }
        let page = catalog.users[start..<min(start + query.limit, catalog.users.count)]
        let json = catalogJSON(request)
        let pageCount = (catalog.users.count + query.limit - 1) / query.limit
        return AmoResponse.hal(
            .object([
                ("_total_items", .int(catalog.users.count)), ("_page", .int(query.page)), ("_page_count", .int(pageCount)),
                ("_links", AmoLeadJSON.links("\(json.base)/api/v4/users")),
                ("_embedded", .object([("users", .array(page.map(json.user)))])),
            ]))
    }
}
