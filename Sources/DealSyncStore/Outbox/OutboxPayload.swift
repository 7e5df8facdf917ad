import DealSyncCore

/// What an outbox row asks a target to do, stored as the row's jsonb payload: `{"values": {key: tagged value}}`.
///
/// Read and written with the project's own JSON reader and writer (``jsonText``, ``init(jsonText:)``): relays
/// read a payload per write claimed and lanes write one per write decided, and Foundation's `JSONDecoder` was a
/// few percent of a drain. The `Codable` form is the same document.
public struct OutboxPayload: Sendable, Codable, Equatable {
    /// The side's record keys and values in its representation.
    public var values: [String: FieldValue]

    public init(values: [String: FieldValue]) {
        self.values = values
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
    }

    public var jsonText: String { JSONText.text(.object(["values": .object(values.mapValues(\.json))])) }
}
