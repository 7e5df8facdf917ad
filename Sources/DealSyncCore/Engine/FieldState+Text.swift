import Foundation

/// Field state read from and written to its stored text directly, without building a ``JSONValue`` tree: a batch
/// loads and saves thousands of states, and the tree's dictionaries cost more than deciding them. The text is
/// byte for byte ``JSONText/text(_:escapingSlashes:)`` of ``FieldState/json``, and what is read is what
/// ``FieldState/init(json:)`` reads (a value tagged ambiguously is read through it).
extension FieldState {
    /// Parses the stored text.
    public init(jsonText: String) throws(JSONShapeError) {
        var text = jsonText
        let read = text.withUTF8 { bytes -> Result<FieldState, JSONShapeError> in
            var parser = JSONText.Parser(bytes: bytes)
            do throws(JSONShapeError) {
                return .success(try parser.document { (parser) throws(JSONShapeError) in try FieldState(reading: &parser) })
            } catch {
                return .failure(error)
            }
        }
        self = try read.get()
    }

    /// The stored text (keys sorted).
    public var jsonText: String {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        write(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    init(reading parser: inout JSONText.Parser) throws(JSONShapeError) {
        var state = FieldState()
        var master: SideState?
        var crm: SideState?
        try parser.readObject("field state") { (parser, key) throws(JSONShapeError) in
            switch key {
            case "decided": state.decided = try parser.readOptional { (parser) throws(JSONShapeError) in try FieldValue(reading: &parser) }
            case "decided_by":
                state.decidedBy = try parser.readOptional { (parser) throws(JSONShapeError) in
                    guard let side = Side(rawValue: try parser.readString("decided_by")) else {
                        throw JSONShapeError("decided_by: not a side")
                    }
                    return side
                }
            case "decided_at":
                state.decidedAt = try parser.readOptional { (parser) throws(JSONShapeError) in try SourceStamp(reading: &parser) }
            case "master": master = try SideState(reading: &parser)
            case "crm": crm = try SideState(reading: &parser)
            default: try parser.skipValue()
            }
        }
        guard let master else { throw JSONShapeError("master: missing") }
        guard let crm else { throw JSONShapeError("crm: missing") }
        state.master = master
        state.crm = crm
        self = state
    }

    func write(into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        JSONText.writeKey("crm", into: &out, first: true)
        crm.write(into: &out)
        if let decided {
            JSONText.writeKey("decided", into: &out)
            decided.write(into: &out)
        }
        if let decidedAt {
            JSONText.writeKey("decided_at", into: &out)
            decidedAt.write(into: &out)
        }
        if let decidedBy {
            JSONText.writeKey("decided_by", into: &out)
            JSONText.writeString(decidedBy.rawValue, into: &out)
        }
        JSONText.writeKey("master", into: &out)
        master.write(into: &out)
        out.append(UInt8(ascii: "}"))
    }
}

extension SideState {
    init(reading parser: inout JSONText.Parser) throws(JSONShapeError) {
        var state = SideState()
        try parser.readObject("side state") { (parser, key) throws(JSONShapeError) in
            switch key {
            case "known": state.known = try parser.readOptional { (parser) throws(JSONShapeError) in try FieldValue(reading: &parser) }
            case "known_at":
                state.knownAt = try parser.readOptional { (parser) throws(JSONShapeError) in try SourceStamp(reading: &parser) }
            case "known_is_ours":
                state.knownIsOurs =
                    try parser.readOptional { (parser) throws(JSONShapeError) in try parser.readBool("known_is_ours") } ?? false
            case "ours_since":
                state.oursSince = try parser.readOptional { (parser) throws(JSONShapeError) in try SourceStamp(reading: &parser) }
            case "before_ours_at":
                state.beforeOursAt = try parser.readOptional { (parser) throws(JSONShapeError) in try SourceStamp(reading: &parser) }
            case "ours_reported":
                state.oursReported = try parser.readList { (parser) throws(JSONShapeError) in try StampSpan(reading: &parser) }
            case "last_edit_at":
                state.lastEditAt = try parser.readOptional { (parser) throws(JSONShapeError) in try SourceStamp(reading: &parser) }
            case "last_edit":
                state.lastEdit = try parser.readOptional { (parser) throws(JSONShapeError) in try FieldValue(reading: &parser) }
            case "pending": state.pending = try parser.readList { (parser) throws(JSONShapeError) in try PendingWrite(reading: &parser) }
            case "held_since":
                state.heldSince = try parser.readOptional { (parser) throws(JSONShapeError) in try SourceStamp(reading: &parser) }
            case "written": state.written = try parser.readList { (parser) throws(JSONShapeError) in try FieldValue(reading: &parser) }
            default: try parser.skipValue()
            }
        }
        self = state
    }

    /// Members in `JSONText`'s key order; absent optionals and members at their defaults are left out, as ``json``
    /// leaves them out.
    func write(into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        var first = true
        func key(_ name: StaticString) {
            JSONText.writeKey(name, into: &out, first: first)
            first = false
        }
        if let beforeOursAt {
            key("before_ours_at")
            beforeOursAt.write(into: &out)
        }
        if let heldSince {
            key("held_since")
            heldSince.write(into: &out)
        }
        if let known {
            key("known")
            known.write(into: &out)
        }
        if let knownAt {
            key("known_at")
            knownAt.write(into: &out)
        }
        if knownIsOurs {
            key("known_is_ours")
            out.append(contentsOf: "true".utf8)
        }
        if let lastEdit {
            key("last_edit")
            lastEdit.write(into: &out)
        }
        if let lastEditAt {
            key("last_edit_at")
            lastEditAt.write(into: &out)
        }
        if !oursReported.isEmpty {
            key("ours_reported")
            JSONText.writeList(oursReported, into: &out) { $0.write(into: &$1) }
        }
        if let oursSince {
            key("ours_since")
            oursSince.write(into: &out)
        }
        if !pending.isEmpty {
            key("pending")
            JSONText.writeList(pending, into: &out) { $0.write(into: &$1) }
        }
        if !written.isEmpty {
            key("written")
            JSONText.writeList(written, into: &out) { $0.write(into: &$1) }
        }
        out.append(UInt8(ascii: "}"))
    }
}

extension PendingWrite {
    init(reading parser: inout JSONText.Parser) throws(JSONShapeError) {
        var value: FieldValue?
        var key: String?
        var landedAt: SourceStamp?
        try parser.readObject("pending write") { (parser, member) throws(JSONShapeError) in
            switch member {
            case "value":
                // `null` is a value here (`.null`), not an absent member.
                value = try FieldValue(reading: &parser)
            case "key": key = try parser.readString("key")
            case "landed_at": landedAt = try parser.readOptional { (parser) throws(JSONShapeError) in try SourceStamp(reading: &parser) }
            default: try parser.skipValue()
            }
        }
        guard let value else { throw JSONShapeError("value: missing") }
        guard let key else { throw JSONShapeError("key: missing") }
        self.init(value: value, key: key, landedAt: landedAt)
    }

    func write(into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        JSONText.writeKey("key", into: &out, first: true)
        JSONText.writeString(key, into: &out)
        if let landedAt {
            JSONText.writeKey("landed_at", into: &out)
            landedAt.write(into: &out)
        }
        JSONText.writeKey("value", into: &out)
        value.write(into: &out)
        out.append(UInt8(ascii: "}"))
    }
}

extension StampSpan {
    init(reading parser: inout JSONText.Parser) throws(JSONShapeError) {
        var from: SourceStamp?
        var to: SourceStamp?
        try parser.readObject("span") { (parser, key) throws(JSONShapeError) in
            switch key {
            case "from": from = try SourceStamp(reading: &parser)
            case "to": to = try SourceStamp(reading: &parser)
            default: try parser.skipValue()
            }
        }
        guard let from else { throw JSONShapeError("from: missing") }
        guard let to else { throw JSONShapeError("to: missing") }
        self.init(from: from, to: to)
    }

    func write(into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        JSONText.writeKey("from", into: &out, first: true)
        from.write(into: &out)
        JSONText.writeKey("to", into: &out)
        to.write(into: &out)
        out.append(UInt8(ascii: "}"))
    }
}

extension SourceStamp {
    init(reading parser: inout JSONText.Parser) throws(JSONShapeError) {
        var millis: Int64?
        var version: Int64?
        try parser.readObject("stamp") { (parser, key) throws(JSONShapeError) in
            switch key {
            case "millis": millis = try parser.readInt64("millis")
            case "version": version = try parser.readOptional { (parser) throws(JSONShapeError) in try parser.readInt64("version") }
            default: try parser.skipValue()
            }
        }
        guard let millis else { throw JSONShapeError("millis: missing") }
        self.init(millis: millis, version: version)
    }

    func write(into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        JSONText.writeKey("millis", into: &out, first: true)
        JSONText.writeInteger(millis, into: &out)
        if let version {
            JSONText.writeKey("version", into: &out)
            JSONText.writeInteger(version, into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }
}

extension FieldValue {
    /// A tagged value read directly when it has one tag; anything else is read through ``init(json:)``.
    init(reading parser: inout JSONText.Parser) throws(JSONShapeError) {
        guard parser.nextIsObject() else {
            self = try FieldValue(json: try parser.readValue())
            return
        }
        // The one member kept apart: a list is made only for a value that is not the tagged form.
        var first: (String, JSONValue)?
        var others: [(String, JSONValue)] = []
        try parser.readObject("value") { (parser, key) throws(JSONShapeError) in
            let member = (key, try parser.readValue())
            if first == nil { first = member } else { others.append(member) }
        }
        guard let first, others.isEmpty else {
            let members = (first.map { [$0] } ?? []) + others
            self = try FieldValue(json: .object(Dictionary(members, uniquingKeysWith: { _, last in last })))
            return
        }
        try self.init(tag: first.0, value: first.1)
    }

    func write(into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        switch self {
        case .null:
            JSONText.writeKey("null", into: &out, first: true)
            out.append(contentsOf: "true".utf8)
        case .text(let text):
            JSONText.writeKey("text", into: &out, first: true)
            JSONText.writeString(text, into: &out)
        case .integer(let number):
            JSONText.writeKey("integer", into: &out, first: true)
            JSONText.writeInteger(number, into: &out)
        case .decimal(let decimal):
            JSONText.writeKey("decimal", into: &out, first: true)
            JSONText.writeString(DecimalText.format(decimal), into: &out)
        case .bool(let flag):
            JSONText.writeKey("bool", into: &out, first: true)
            out.append(contentsOf: (flag ? "true" : "false").utf8)
        case .money(let money):
            JSONText.writeKey("money", into: &out, first: true)
            out.append(UInt8(ascii: "{"))
            JSONText.writeKey("amount", into: &out, first: true)
            JSONText.writeString(DecimalText.format(money.amount), into: &out)
            JSONText.writeKey("currency", into: &out)
            JSONText.writeString(money.currency, into: &out)
            out.append(UInt8(ascii: "}"))
        case .time(let millis):
            JSONText.writeKey("time", into: &out, first: true)
            JSONText.writeInteger(millis, into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }
}

/// A link's field states stored as one document, an object of field name to state, so that a batch reads and
/// writes a row per link rather than one per field.
extension FieldState {
    /// Parses a link's stored states.
    public static func states(jsonText: String) throws(JSONShapeError) -> [String: FieldState] {
        var text = jsonText
        let read = text.withUTF8 { bytes -> Result<[String: FieldState], JSONShapeError> in
            var parser = JSONText.Parser(bytes: bytes)
            do throws(JSONShapeError) {
                return .success(
                    try parser.document { (parser) throws(JSONShapeError) in
                        var states: [String: FieldState] = [:]
                        try parser.readObject("field states") { (parser, field) throws(JSONShapeError) in
                            do throws(JSONShapeError) {
                                states[field] = try FieldState(reading: &parser)
                            } catch {
                                throw JSONShapeError("\(field): \(error.description)")
                            }
                        }
                        return states
                    })
            } catch {
                return .failure(error)
            }
        }
        return try read.get()
    }

    /// The stored document of a link's states: fields in the order of their names, each state's own text.
    public static func jsonText(of states: [String: FieldState]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(600 * states.count + 2)
        out.append(UInt8(ascii: "{"))
        for (index, field) in states.keys.sorted().enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            JSONText.writeString(field, into: &out)
            out.append(UInt8(ascii: ":"))
            states[field]!.write(into: &out)
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }
}
