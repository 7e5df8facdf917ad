/// One element of a `POST`/`PATCH /api/v4/leads` body (or a salesperson's edit), type-checked.
///
/// Only what the writer sent is set; ``AmoLeadBook`` checks the result against the catalog and applies it.
struct AmoLeadWrite: Sendable {
    enum FieldChange: Sendable, Equatable {
        case set([AmoFieldValue.Item])
        case clear
    }

    var id: Int?
    var requestID: String?
    var name: String?
    var price: Int?
    var statusID: Int?
    var pipelineID: Int?
    var responsibleUserID: Int?
    /// `.some(nil)` when the writer sent `null`.
    var lossReasonID: Int??
    var createdBy: Int?
    var updatedBy: Int?
    var createdAt: Int?
    var updatedAt: Int?
    var closedAt: Int??
    /// In the order sent, with the index the writer used (for error paths).
    var customFields: [(index: Int, fieldID: Int, change: FieldChange)] = []
    var tags: [String]?
    /// `tags_to_add` / `tags_to_delete`: by name, or by the id of a tag the account knows.
    var tagsToAdd: [TagReference] = []
    var tagsToDelete: [TagReference] = []

    enum TagReference: Sendable, Equatable {
        case name(String)
        case id(Int)

        init?(_ json: AmoJSON) {
            if let name = json["name"]?.string, !name.isEmpty {
                self = .name(name)
            } else if let id = json["id"]?.int {
                self = .id(id)
            } else {
                return nil
            }
        }
    }

    init() {}

    /// Type-checks one element. Semantic checks (status in pipeline, loss reason rule) happen on apply.
    static func parse(_ json: AmoJSON, catalog: AmoCatalog) -> (AmoLeadWrite, [AmoValidationIssue]) {
        var write = AmoLeadWrite()
        var issues: [AmoValidationIssue] = []
        guard let members = json.members else {
            return (write, [.invalidType("", type: "array")])
        }
        func int(_ key: String, _ value: AmoJSON) -> Int? {
            if let number = value.int { return number }
            issues.append(.invalidType(key, type: "int"))
            return nil
        }
        for (key, value) in members {
            switch key {
            case "id": write.id = int(key, value)
            case "request_id":
                if let text = value.string { write.requestID = text } else if let number = value.int { write.requestID = String(number) }
            case "name":
                if let text = value.string { write.name = text } else { issues.append(.invalidType(key, type: "string")) }
            case "price": write.price = value.isNull ? 0 : int(key, value)
            case "status_id": write.statusID = int(key, value)
            case "pipeline_id": write.pipelineID = int(key, value)
            case "responsible_user_id": write.responsibleUserID = int(key, value)
            case "loss_reason_id": write.lossReasonID = value.isNull ? .some(nil) : int(key, value).map { .some($0) }
            case "created_by": write.createdBy = int(key, value)
            case "updated_by": write.updatedBy = int(key, value)
            case "created_at": write.createdAt = int(key, value)
            case "updated_at": write.updatedAt = int(key, value)
            case "closed_at": write.closedAt = value.isNull ? .some(nil) : int(key, value).map { .some($0) }
            case "custom_fields_values":
                if value.isNull { continue }
                guard let items = value.array else {
                    issues.append(.invalidType(key, type: "array"))
                    continue
                }
                for (index, item) in items.enumerated() {
                    parseField(item, index: index, catalog: catalog, into: &write, issues: &issues)
                }
            case "_embedded":
                if let tags = value["tags"] {
                    write.tags = tags.array?.compactMap { $0["name"]?.string } ?? []
                }
            case "tags_to_add", "tags_to_delete":
                guard let items = value.array else {
                    issues.append(.invalidType(key, type: "array"))
                    continue
                }
                let references = items.compactMap(TagReference.init)
                if key == "tags_to_add" { write.tagsToAdd = references } else { write.tagsToDelete = references }
            default:
                continue  // amoCRM ignores members it does not know
            }
        }
        return (write, issues)
    }

    private static func parseField(
        _ item: AmoJSON, index: Int, catalog: AmoCatalog, into write: inout AmoLeadWrite,
        issues: inout [AmoValidationIssue]
    ) {
        let path = "custom_fields_values.\(index)"
        let field: AmoCRMSimulator.CustomField?
        if let id = item["field_id"]?.int {
            field = catalog.field(id)
            if field == nil { issues.append(.notSupportedChoice("\(path).field_id")) }
        } else if let code = item["field_code"]?.string {
            field = catalog.field(code: code)
            if field == nil { issues.append(.notSupportedChoice("\(path).field_code")) }
        } else {
            issues.append(.missing("\(path).field_id"))
            field = nil
        }
        guard let field else { return }
        guard let rawValues = item["values"], !rawValues.isNull else {
            write.customFields.append((index, field.id, .clear))
            return
        }
        guard let values = rawValues.array else {
            issues.append(.invalidType("\(path).values", type: "array"))
            return
        }
        if values.isEmpty {
            write.customFields.append((index, field.id, .clear))
            return
        }
        var parsed: [AmoFieldValue.Item] = []
        for (valueIndex, value) in values.enumerated() {
            switch AmoFieldValueParser.parse(value, field: field, path: "\(path).values.\(valueIndex)") {
            case .success(let item): parsed.append(item)
            case .failure(let issue): issues.append(issue)
            }
        }
        if field.type != .multiselect, parsed.count > 1 { parsed = [parsed[0]] }
        write.customFields.append((index, field.id, .set(parsed)))
    }
}
