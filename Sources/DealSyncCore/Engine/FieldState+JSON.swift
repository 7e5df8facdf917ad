import Foundation

/// Field state in its stored JSON form (exactly its `Codable` form) as a ``JSONValue``, without Foundation's
/// coders; the stored text itself is read and written directly (`FieldState+Text.swift`).
extension FieldState {
    public init(json: JSONValue) throws(JSONShapeError) {
        let members = try JSONShape.object(json, "field state")
        self.init(
            decided: try JSONShape.optional(members["decided"], FieldValue.init(json:)),
            decidedBy: try JSONShape.optional(members["decided_by"]) { (value) throws(JSONShapeError) in
                guard let side = Side(rawValue: try JSONShape.string(value, "decided_by")) else {
                    throw JSONShapeError("decided_by: not a side")
                }
                return side
            },
            decidedAt: try JSONShape.optional(members["decided_at"], SourceStamp.init(json:)),
            master: try SideState(json: try JSONShape.required(members["master"], "master")),
            crm: try SideState(json: try JSONShape.required(members["crm"], "crm")))
    }

    public var json: JSONValue {
        var members: [String: JSONValue] = ["master": master.json, "crm": crm.json]
        members["decided"] = decided?.json
        members["decided_by"] = decidedBy.map { .string($0.rawValue) }
        members["decided_at"] = decidedAt?.json
        return .object(members)
    }
}

extension SideState {
    init(json: JSONValue) throws(JSONShapeError) {
        let members = try JSONShape.object(json, "side state")
        self.init(
            known: try JSONShape.optional(members["known"], FieldValue.init(json:)),
            knownAt: try JSONShape.optional(members["known_at"], SourceStamp.init(json:)))
        knownIsOurs =
            try JSONShape.optional(members["known_is_ours"]) { (value) throws(JSONShapeError) in
                guard case .bool(let flag) = value else { throw JSONShapeError("known_is_ours: not a boolean") }
                return flag
            } ?? false
        oursSince = try JSONShape.optional(members["ours_since"], SourceStamp.init(json:))
        beforeOursAt = try JSONShape.optional(members["before_ours_at"], SourceStamp.init(json:))
        oursReported = try JSONShape.list(members["ours_reported"], StampSpan.init(json:))
        lastEditAt = try JSONShape.optional(members["last_edit_at"], SourceStamp.init(json:))
        lastEdit = try JSONShape.optional(members["last_edit"], FieldValue.init(json:))
        pending = try JSONShape.list(members["pending"], PendingWrite.init(json:))
        heldSince = try JSONShape.optional(members["held_since"], SourceStamp.init(json:))
        written = try JSONShape.list(members["written"], FieldValue.init(json:))
    }

    var json: JSONValue {
        // As the Codable form: members at their defaults are left out.
        var members: [String: JSONValue] = [:]
        if knownIsOurs { members["known_is_ours"] = .bool(true) }
        if !oursReported.isEmpty { members["ours_reported"] = .array(oursReported.map(\.json)) }
        if !pending.isEmpty { members["pending"] = .array(pending.map(\.json)) }
        if !written.isEmpty { members["written"] = .array(written.map(\.json)) }
        members["known"] = known?.json
        members["known_at"] = knownAt?.json
        members["ours_since"] = oursSince?.json
        members["before_ours_at"] = beforeOursAt?.json
        members["last_edit_at"] = lastEditAt?.json
        members["last_edit"] = lastEdit?.json
        members["held_since"] = heldSince?.json
        return .object(members)
    }
}

extension PendingWrite {
    init(json: JSONValue) throws(JSONShapeError) {
        let members = try JSONShape.object(json, "pending write")
        self.init(
            value: try FieldValue(json: try JSONShape.required(members["value"], "value")),
            key: try JSONShape.string(try JSONShape.required(members["key"], "key"), "key"),
            landedAt: try JSONShape.optional(members["landed_at"], SourceStamp.init(json:)))
    }

    var json: JSONValue {
        var members: [String: JSONValue] = ["value": value.json, "key": .string(key)]
        members["landed_at"] = landedAt?.json
        return .object(members)
    }
}

extension StampSpan {
    init(json: JSONValue) throws(JSONShapeError) {
        let members = try JSONShape.object(json, "span")
        self.init(
            from: try SourceStamp(json: try JSONShape.required(members["from"], "from")),
            to: try SourceStamp(json: try JSONShape.required(members["to"], "to")))
    }

    var json: JSONValue { .object(["from": from.json, "to": to.json]) }
}

extension SourceStamp {
    init(json: JSONValue) throws(JSONShapeError) {
        let members = try JSONShape.object(json, "stamp")
        self.init(
            millis: try JSONShape.int64(try JSONShape.required(members["millis"], "millis"), "millis"),
            version: try JSONShape.optional(members["version"]) { (value) throws(JSONShapeError) in try JSONShape.int64(value, "version") })
    }

    var json: JSONValue {
        var members: [String: JSONValue] = ["millis": .number(String(millis))]
        members["version"] = version.map { .number(String($0)) }
        return .object(members)
    }
}

extension FieldValue {
    /// The tagged form: `{"text":"x"}`, `{"money":{"amount":"1.5","currency":"RUB"}}`, `{"null":true}`; a bare
    /// `null` is `.null` too.
    public init(json: JSONValue) throws(JSONShapeError) {
        if case .null = json {
            self = .null
            return
        }
        let members = try JSONShape.object(json, "value")
        guard let (tag, value) = members.first else { throw JSONShapeError("value: empty") }
        try self.init(tag: tag, value: value)
    }

    /// The value of the tagged form's one member.
    init(tag: String, value: JSONValue) throws(JSONShapeError) {
        switch tag {
        case "null": self = .null
        case "text": self = .text(try JSONShape.string(value, "text"))
        case "integer": self = .integer(try JSONShape.int64(value, "integer"))
        case "decimal":
            guard let decimal = DecimalText.parse(try JSONShape.string(value, "decimal")) else {
                throw JSONShapeError("decimal: not a decimal")
            }
            self = .decimal(decimal)
        case "bool":
            guard case .bool(let flag) = value else { throw JSONShapeError("bool: not a boolean") }
            self = .bool(flag)
        case "money":
            let money = try JSONShape.object(value, "money")
            guard let amount = DecimalText.parse(try JSONShape.string(try JSONShape.required(money["amount"], "amount"), "amount")) else {
                throw JSONShapeError("money: amount is not a decimal")
            }
            self = .money(
                Money(amount: amount, currency: try JSONShape.string(try JSONShape.required(money["currency"], "currency"), "currency")))
        case "time": self = .time(try JSONShape.int64(value, "time"))
        default: throw JSONShapeError("value: unknown kind \(tag)")
        }
    }

    public var json: JSONValue {
        switch self {
        case .null: .object(["null": .bool(true)])
        case .text(let v): .object(["text": .string(v)])
        case .integer(let v): .object(["integer": .number(String(v))])
        case .decimal(let v): .object(["decimal": .string(DecimalText.format(v))])
        case .bool(let v): .object(["bool": .bool(v)])
        case .money(let v): .object(["money": .object(["amount": .string(DecimalText.format(v.amount)), "currency": .string(v.currency)])])
        case .time(let v): .object(["time": .number(String(v))])
        }
    }
}

/// A JSON document that is not the shape a reader expects.
public struct JSONShapeError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Small readers for hand-written `init(json:)`s.
enum JSONShape {
    static func object(_ value: JSONValue, _ what: String) throws(JSONShapeError) -> [String: JSONValue] {
        guard case .object(let members) = value else { throw JSONShapeError("\(what): not an object") }
        return members
    }

    static func required(_ value: JSONValue?, _ what: String) throws(JSONShapeError) -> JSONValue {
        guard let value else { throw JSONShapeError("\(what): missing") }
        return value
    }

    static func string(_ value: JSONValue, _ what: String) throws(JSONShapeError) -> String {
        guard case .string(let text) = value else { throw JSONShapeError("\(what): not a string") }
        return text
    }

    static func int64(_ value: JSONValue, _ what: String) throws(JSONShapeError) -> Int64 {
        guard case .number(let text) = value, let number = Int64(text) else { throw JSONShapeError("\(what): not an integer") }
        return number
    }

    /// A member that may be absent or `null` (the coders' `decodeIfPresent`).
    static func optional<T>(_ value: JSONValue?, _ read: (JSONValue) throws(JSONShapeError) -> T) throws(JSONShapeError) -> T? {
        guard let value, value != .null else { return nil }
        return try read(value)
    }

    /// A list that may be absent (empty).
    static func list<T>(_ value: JSONValue?, _ read: (JSONValue) throws(JSONShapeError) -> T) throws(JSONShapeError) -> [T] {
        guard let value, value != .null else { return [] }
        guard case .array(let items) = value else { throw JSONShapeError("not a list") }
        var result: [T] = []
        result.reserveCapacity(items.count)
        for item in items { result.append(try read(item)) }
        return result
    }
}
