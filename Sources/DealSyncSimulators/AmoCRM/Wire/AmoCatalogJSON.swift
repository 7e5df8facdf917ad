/// Renders the account's reference data the way API v4 returns it: pipelines with their statuses, statuses alone,
/// custom fields, users.
struct AmoCatalogJSON {
    let catalog: AmoCatalog
    /// `https://<host>` of the request (``AmoCRMSimulator/base(_:)``).
    let base: String

    func pipeline(_ pipeline: AmoCRMSimulator.Pipeline) -> AmoJSON {
        let sort = (catalog.pipelines.firstIndex { $0.id == pipeline.id } ?? 0) + 1
        return .object([
            ("id", .int(pipeline.id)), ("name", .string(pipeline.name)), ("sort", .int(sort)), ("is_main", .bool(pipeline.isMain)),
            ("is_unsorted_on", .bool(pipeline.statuses.contains { $0.type == 1 })), ("is_archive", .bool(false)),
            ("account_id", .int(catalog.accountID)),
            ("_links", AmoLeadJSON.links("\(base)/api/v4/leads/pipelines/\(pipeline.id)")),
            ("_embedded", .object([("statuses", .array(pipeline.statuses.map { status($0, in: pipeline) }))])),
        ])
    }

    /// Sorted 10, 20, … in pipeline order; won and lost at 10000 and 11000.
    func status(_ status: AmoCRMSimulator.Status, in pipeline: AmoCRMSimulator.Pipeline) -> AmoJSON {
        let index = pipeline.statuses.firstIndex { $0.id == status.id } ?? 0
        let sort = status.id == AmoCRMSimulator.Status.won ? 10_000 : status.id == AmoCRMSimulator.Status.lost ? 11_000 : (index + 1) * 10
        return .object([
            ("id", .int(status.id)), ("name", .string(status.name)), ("sort", .int(sort)),
            ("is_editable", .bool(status.isEditable)), ("pipeline_id", .int(pipeline.id)), ("color", .string(status.color)),
            ("type", .int(status.type)), ("account_id", .int(catalog.accountID)),
            ("_links", AmoLeadJSON.links("\(base)/api/v4/leads/pipelines/\(pipeline.id)/statuses/\(status.id)")),
        ])
    }

    func field(_ field: AmoCRMSimulator.CustomField) -> AmoJSON {
        let sort = ((catalog.customFields.firstIndex { $0.id == field.id } ?? 0) + 1) * 10
        let predefined = field.type == .trackingData
        return .object([
            ("id", .int(field.id)), ("name", .string(field.name)), ("type", .string(field.type.rawValue)),
            ("account_id", .int(catalog.accountID)), ("code", .string(field.code)), ("sort", .int(sort)),
            ("is_api_only", .bool(false)),
            (
                "enums",
                field.type.hasEnums
                    ? .array(
                        field.enums.enumerated().map { index, choice in
                            .object([("id", .int(choice.id)), ("value", .string(choice.value)), ("sort", .int((index + 1) * 10))])
                        })
                    : .null
            ),
            ("group_id", .null), ("required_statuses", .array([])), ("is_deletable", .bool(!predefined)),
            ("is_predefined", .bool(predefined)), ("entity_type", .string("leads")), ("remind", .null),
            ("_links", AmoLeadJSON.links("\(base)/api/v4/leads/custom_fields/\(field.id)")),
        ])
    }

    func user(_ user: AmoCRMSimulator.User) -> AmoJSON {
        let full: AmoJSON = .object([
            ("view", .string("A")), ("edit", .string("A")), ("add", .string("A")),
            ("delete", .string("A")), ("export", .string("A")),
        ])
        return .object([
            ("id", .int(user.id)), ("name", .string(user.name)), ("email", .string(user.email)), ("lang", .string(user.lang)),
            (
                "rights",
                .object([
                    ("leads", full), ("contacts", full), ("companies", full),
                    ("tasks", .object([("edit", .string("A")), ("delete", .string("A"))])),
                    ("mail_access", .bool(false)), ("catalog_access", .bool(false)), ("status_rights", .array([])),
                    ("is_admin", .bool(user.isAdmin)), ("is_free", .bool(false)), ("is_active", .bool(true)),
                    ("group_id", user.groupID == 0 ? .null : .int(user.groupID)), ("role_id", .null),
                ])
            ),
            ("_links", AmoLeadJSON.links("\(base)/api/v4/users/\(user.id)")),
        ])
    }
}
