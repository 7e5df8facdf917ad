import DealSyncCore

/// What an outbox row asks a target to do, stored as the row's jsonb payload: `{"values": {key: tagged value}}`.
///
/// Read and written with the project's own JSON reader and writer (``jsonText``, ``init(jsonText:)``): relays
/// read a payload per write claimed and lanes write one per write decided, and Foundation's `JSONDecoder` was a
/// few percent of a drain. The `Codable` form is the same document.
///
/// A row of the decision feed also says which write was decided: `{"values": {mapping field: value}, "decided":
/// {"target", "connector", "link_id", "record_id"}}`.
public struct OutboxPayload: Sendable, Codable, Equatable {
    /// The side's record keys and values in its representation (the decision feed: the mapping's fields).
    public var values: [String: FieldValue]
    public var decided: DecidedWrite?

    public init(values: [String: FieldValue], decided: DecidedWrite? = nil) {
        self.values = values
        self.decided = decided
    }

    public init(jsonText: String) throws(JSONShapeError) {
        guard let json = JSONText.parse(jsonText), case .object(let members) = json else {
            throw JSONShapeError("outbox payload: not a JSON object")
        }
        guard case .object(let stored)? = members["values"] else { throw JSONShapeError("outbox payload: no values") }
        var values: [String: FieldValue] = [:]
        values.reserveCapacity(stored.count)
        for (key, value) in stored { values[key] = try FieldValue(json: value) }
        self.values = values
        if case .object(let about)? = members["decided"] {
            guard case .string(let target)? = about["target"], case .string(let connector)? = about["connector"],
                case .number(let link)? = about["link_id"], let linkID = Int64(link)
            else { throw JSONShapeError("outbox payload: decided needs target, connector and link_id") }
            var recordID: String?
            if case .string(let id)? = about["record_id"] { recordID = id }
            decided = DecidedWrite(target: target, connector: connector, linkID: linkID, recordID: recordID)
        }
    }

    public var jsonText: String {
        var members: [String: JSONValue] = ["values": .object(values.mapValues(\.json))]
        if let decided {
            members["decided"] = .object([
                "target": .string(decided.target), "connector": .string(decided.connector), "link_id": .number(String(decided.linkID)),
                "record_id": decided.recordID.map(JSONValue.string) ?? .null,
            ])
        }
        return JSONText.text(.object(members))
    }
}
