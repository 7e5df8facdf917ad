/// A salesperson's edit in Swift form, for in-process helpers (`PATCH /_sim/leads/{id}` takes API v4 JSON).
public struct AmoLeadFields: Sendable, Equatable {
    public var name: String?
    public var price: Int?
    public var statusID: Int?
    public var pipelineID: Int?
    public var responsibleUserID: Int?
    public var lossReasonID: Int?
    /// Values as text (select fields by label, dates as unix seconds, checkboxes `"1"`/`"0"`); `nil` clears.
    public var customFields: [Int: [String]?]
    /// The lead's tags by name, replacing the ones it had (an empty list removes them all); `nil` keeps them.
    public var tags: [String]?

    public init(
        name: String? = nil, price: Int? = nil, statusID: Int? = nil, pipelineID: Int? = nil,
        responsibleUserID: Int? = nil, lossReasonID: Int? = nil, customFields: [Int: [String]?] = [:],
        tags: [String]? = nil
    ) {
        self.name = name
        self.price = price
        self.statusID = statusID
        self.pipelineID = pipelineID
        self.responsibleUserID = responsibleUserID
        self.lossReasonID = lossReasonID
        self.customFields = customFields
        self.tags = tags
    }

    /// The same edit as an API v4 body element.
    func json(catalog: AmoCatalog) -> AmoJSON {
        var members: [(String, AmoJSON)] = []
        if let name { members.append(("name", .string(name))) }
        if let price { members.append(("price", .int(price))) }
        if let pipelineID { members.append(("pipeline_id", .int(pipelineID))) }
        if let statusID { members.append(("status_id", .int(statusID))) }
        if let responsibleUserID { members.append(("responsible_user_id", .int(responsibleUserID))) }
        if let lossReasonID { members.append(("loss_reason_id", .int(lossReasonID))) }
        if !customFields.isEmpty {
            members.append(
                (
                    "custom_fields_values",
                    .array(
                        customFields.sorted { $0.key < $1.key }.map { fieldID, values in
                            .object([
                                ("field_id", .int(fieldID)),
                                ("values", values.map { .array($0.map { Self.value($0, field: catalog.field(fieldID)) }) } ?? .null),
                            ])
                        })
                ))
        }
        if let tags { members.append(("_embedded", .object([("tags", .array(tags.map { .object([("name", .string($0))]) }))]))) }
        return .object(members)
    }

    private static func value(_ text: String, field: AmoCRMSimulator.CustomField?) -> AmoJSON {
        switch field?.type {
        case .checkbox?: .object([("value", .bool(text == "1" || text == "true"))])
        case let type? where type.isDate: .object([("value", Int(text).map { .int($0) } ?? .string(text))])
        default: .object([("value", .string(text))])
        }
    }
}
