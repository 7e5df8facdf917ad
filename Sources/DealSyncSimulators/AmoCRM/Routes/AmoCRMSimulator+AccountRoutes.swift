import Synchronization
import Hummingbird

/// Reference data and webhook subscriptions: `/api/v4/leads/pipelines`, `/api/v4/users`,
/// `/api/v4/leads/custom_fields`, `/api/v4/account`, `/api/v4/webhooks`.
extension AmoCRMSimulator {
    func addAccountRoutes(to router: Router<BasicRequestContext>) {
        router.get("/api/v4/leads/pipelines") { request, _ in
            _ = try self.authenticate(request)
            let base = Self.base(request)
            return AmoResponse.hal(.object([
                ("_total_items", .int(self.catalog.pipelines.count)),
                ("_links", AmoLeadJSON.links("\(base)/api/v4/leads/pipelines")),
                ("_embedded", .object([("pipelines", .array(self.catalog.pipelines.enumerated().map { index, pipeline in
                    self.pipelineJSON(pipeline, sort: index + 1, base: base)
                }))])),
            ]))
        }
        router.get("/api/v4/leads/pipelines/:id") { request, context in
            _ = try self.authenticate(request)
            guard let id = context.parameters.get("id", as: Int.self),
                let index = self.catalog.pipelines.firstIndex(where: { $0.id == id })
            else { return AmoResponse.noContent() }
            return AmoResponse.hal(self.pipelineJSON(self.catalog.pipelines[index], sort: index + 1, base: Self.base(request)))
        }
        router.get("/api/v4/leads/custom_fields") { request, _ in
            _ = try self.authenticate(request)
            let base = Self.base(request)
            return AmoResponse.hal(.object([
                ("_total_items", .int(self.catalog.customFields.count)),
                ("_page", .int(1)),
                ("_links", AmoLeadJSON.links("\(base)/api/v4/leads/custom_fields")),
                ("_embedded", .object([("custom_fields", .array(self.catalog.customFields.enumerated().map { index, field in
                    self.fieldJSON(field, sort: (index + 1) * 10, base: base)
                }))])),
            ]))
        }
        router.get("/api/v4/users") { request, _ in try self.listUsers(request) }
        router.get("/api/v4/account") { request, _ in
            let user = try self.authenticate(request)
            return AmoResponse.hal(.object([
                ("id", .int(self.catalog.accountID)), ("name", .string(self.catalog.subdomain)),
                ("subdomain", .string(self.catalog.subdomain)), ("current_user_id", .int(user)),
                ("country", .string("RU")), ("currency", .string("RUB")), ("currency_symbol", .string("₽")),
                ("customers_mode", .string("disabled")), ("is_unsorted_on", .bool(true)), ("is_loss_reason_enabled", .bool(true)),
                ("_links", AmoLeadJSON.links("\(Self.base(request))/api/v4/account")),
            ]))
        }
        addWebhookRoutes(to: router)
    }

    private func listUsers(_ request: Request) throws -> Response {
        let userID = try authenticate(request)
        guard catalog.user(userID)?.isAdmin ?? false else { throw AmoProblem.forbidden }
        let query = AmoLeadQuery.parse(request.uri.query)
        let start = (query.page - 1) * query.limit
        guard start < catalog.users.count else { return AmoResponse.noContent() }
        let page = catalog.users[start..<min(start + query.limit, catalog.users.count)]
        let base = Self.base(request)
        let pageCount = (catalog.users.count + query.limit - 1) / query.limit
        return AmoResponse.hal(.object([
            ("_total_items", .int(catalog.users.count)), ("_page", .int(query.page)), ("_page_count", .int(pageCount)),
            ("_links", AmoLeadJSON.links("\(base)/api/v4/users")),
            ("_embedded", .object([("users", .array(page.map { user in
                let full: AmoJSON = .object([("view", .string("A")), ("edit", .string("A")), ("add", .string("A")),
                                             ("delete", .string("A")), ("export", .string("A"))])
                return .object([
                    ("id", .int(user.id)), ("name", .string(user.name)), ("email", .string(user.email)), ("lang", .string(user.lang)),
                    ("rights", .object([
                        ("leads", full), ("contacts", full), ("companies", full),
                        ("tasks", .object([("edit", .string("A")), ("delete", .string("A"))])),
                        ("mail_access", .bool(false)), ("catalog_access", .bool(false)), ("status_rights", .array([])),
                        ("is_admin", .bool(user.isAdmin)), ("is_free", .bool(false)), ("is_active", .bool(true)),
                        ("group_id", user.groupID == 0 ? .null : .int(user.groupID)), ("role_id", .null),
                    ])),
                    ("_links", AmoLeadJSON.links("\(base)/api/v4/users/\(user.id)")),
                ])
            }))])),
        ]))
    }

    private func pipelineJSON(_ pipeline: Pipeline, sort: Int, base: String) -> AmoJSON {
        .object([
            ("id", .int(pipeline.id)), ("name", .string(pipeline.name)), ("sort", .int(sort)), ("is_main", .bool(pipeline.isMain)),
            ("is_unsorted_on", .bool(pipeline.statuses.contains { $0.type == 1 })), ("is_archive", .bool(false)),
            ("account_id", .int(catalog.accountID)),
            ("_links", AmoLeadJSON.links("\(base)/api/v4/leads/pipelines/\(pipeline.id)")),
            ("_embedded", .object([("statuses", .array(pipeline.statuses.enumerated().map { index, status in
                .object([
                    ("id", .int(status.id)), ("name", .string(status.name)),
                    ("sort", .int(status.id == Status.won ? 10_000 : status.id == Status.lost ? 11_000 : (index + 1) * 10)),
                    ("is_editable", .bool(status.isEditable)), ("pipeline_id", .int(pipeline.id)), ("color", .string(status.color)),
                    ("type", .int(status.type)), ("account_id", .int(catalog.accountID)),
                    ("_links", AmoLeadJSON.links("\(base)/api/v4/leads/pipelines/\(pipeline.id)/statuses/\(status.id)")),
                ])
            }))])),
        ])
    }

    private func fieldJSON(_ field: CustomField, sort: Int, base: String) -> AmoJSON {
        .object([
            ("id", .int(field.id)), ("name", .string(field.name)), ("type", .string(field.type.rawValue)),
            ("account_id", .int(catalog.accountID)), ("code", .string(field.code)), ("sort", .int(sort)),
            ("is_api_only", .bool(false)),
            ("enums", field.type.hasEnums
                ? .array(field.enums.enumerated().map { index, choice in
                    .object([("id", .int(choice.id)), ("value", .string(choice.value)), ("sort", .int((index + 1) * 10))])
                })
                : .null),
            ("group_id", .null), ("required_statuses", .array([])), ("is_deletable", .bool(field.type != .trackingData)),
            ("is_predefined", .bool(field.type == .trackingData)),
            ("entity_type", .string("leads")), ("remind", .null),
            ("_links", AmoLeadJSON.links("\(base)/api/v4/leads/custom_fields/\(field.id)")),
        ])
    }
}
