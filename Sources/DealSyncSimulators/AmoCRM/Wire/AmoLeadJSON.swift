/// Renders leads the way API v4 returns them: `source_id` and `is_price_modified_by_robot` only when `with` asks for
/// them, and the lead's own link carrying the query string of the request that read it.
enum AmoLeadJSON {
    static func lead(_ lead: AmoLead, catalog: AmoCatalog, base: String, with: Set<String> = [], query: String? = nil) -> AmoJSON {
        var embedded: [(String, AmoJSON)] = [
            ("tags", .array(lead.tags.map { .object([("id", .int($0.id)), ("name", .string($0.name)), ("color", .null)]) })),
            ("companies", .array([])),
        ]
        if with.contains("contacts") { embedded.append(("contacts", .array([]))) }
        if with.contains("loss_reason"), let reasonID = lead.lossReasonID, let reason = catalog.lossReason(reasonID) {
            embedded.append(
                (
                    "loss_reason",
                    .array([
                        .object([
                            ("id", .int(reason.id)), ("name", .string(reason.name)), ("sort", .int(100_000)),
                            ("_links", links("\(base)/api/v4/leads/loss_reasons/\(reason.id)")),
                        ])
                    ])
                ))
        }
        var members: [(String, AmoJSON)] = [
            ("id", .int(lead.id)),
            ("name", .string(lead.name)),
            ("price", .int(lead.price)),
            ("responsible_user_id", .int(lead.responsibleUserID)),
            ("group_id", .int(lead.groupID)),
            ("status_id", .int(lead.statusID)),
            ("pipeline_id", .int(lead.pipelineID)),
            ("loss_reason_id", .int(lead.lossReasonID)),
        ]
        if with.contains("source_id") { members.append(("source_id", .null)) }
        members += [
            ("created_by", .int(lead.createdBy)),
            ("updated_by", .int(lead.updatedBy)),
            ("created_at", .int(lead.createdAt)),
            ("updated_at", .int(lead.updatedAt)),
            ("closed_at", .int(lead.closedAt)),
            ("closest_task_at", .int(lead.closestTaskAt)),
            ("is_deleted", .bool(lead.isDeleted)),
            ("custom_fields_values", customFieldsValues(lead, catalog: catalog)),
            ("score", .int(lead.score)),
            ("account_id", .int(catalog.accountID)),
            ("labor_cost", .int(lead.laborCost)),
        ]
        if with.contains("is_price_modified_by_robot") { members.append(("is_price_modified_by_robot", .bool(false))) }
        let suffix = query.map { $0.isEmpty ? "" : "?" + $0 } ?? ""
        members += [("_links", links("\(base)/api/v4/leads/\(lead.id)\(suffix)")), ("_embedded", .object(embedded))]
        return .object(members)
    }

    /// `null` when the lead has no filled field; numbers come back as strings, dates as integers.
    static func customFieldsValues(_ lead: AmoLead, catalog: AmoCatalog) -> AmoJSON {
        guard !lead.customFields.isEmpty else { return .null }
        return .array(
            lead.customFields.compactMap { filled in
                guard let field = catalog.field(filled.fieldID) else { return nil }
                return .object([
                    ("field_id", .int(field.id)),
                    ("field_name", .string(field.name)),
                    ("field_code", .string(field.code)),
                    ("field_type", .string(field.type.rawValue)),
                    ("values", .array(filled.values.map { value(of: $0, type: field.type) })),
                ])
            })
    }

    private static func value(of item: AmoFieldValue.Item, type: AmoCRMSimulator.CustomField.FieldType) -> AmoJSON {
        if type.hasEnums {
            return .object([("value", .string(item.value)), ("enum_id", .int(item.enumID)), ("enum_code", .null)])
        }
        switch type {
        case .checkbox: return .object([("value", .bool(item.value == "1"))])
        case .date, .dateTime, .birthday: return .object([("value", Int(item.value).map { .int($0) } ?? .string(item.value))])
        default: return .object([("value", .string(item.value))])
        }
    }

    static func links(_ href: String) -> AmoJSON {
        .object([("self", .object([("href", .string(href))]))])
    }
}
