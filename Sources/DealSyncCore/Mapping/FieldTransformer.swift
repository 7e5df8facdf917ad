import Foundation

/// Applies one field's transform in both directions, with the mapping's stage matrix and owner directory.
///
/// MasterDeal values are canonical. CRM values stay in the CRM's own representation (an integer amoCRM price,
/// a `"<pipeline>:<status>"` stage key), so echoes of lossy transforms compare exactly.
public struct FieldTransformer: Sendable {
    public let field: FieldMapping
    let stages: StageMatrix
    let owners: OwnerDirectory

    public init(field: FieldMapping, mapping: Mapping) {
        self.field = field
        self.stages = mapping.stages
        self.owners = mapping.owners
    }

    /// Why a value has no counterpart on the other side.
    public struct Unmapped: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
    }

    // MARK: Reading observations

    /// The canonical value of this field in a MasterDeal record, if the record says anything about it.
    public func masterValue(in record: [String: FieldValue]) -> FieldValue? {
        record[field.master].map(normaliseMaster)
    }

    /// The CRM value of this field in a CRM record, normalised, if the record says anything about it.
    public func crmValue(in record: [String: FieldValue]) -> FieldValue? {
        record[field.crm].map(normaliseCRM)
    }

    /// The value of this field when a complete record on `side` does not carry it.
    public func absent(on side: Side) -> FieldValue {
        side == .master ? normaliseMaster(.null) : normaliseCRM(.null)
    }

    func normaliseMaster(_ value: FieldValue) -> FieldValue {
        switch (field.transform, value) {
        case (.boolean, _): Self.boolean(value) ?? value
        case (_, .null): .null
        case (.number, .integer(let i)): .decimal(Decimal(i))
        case (.number, .text(let t)): DecimalText.parse(t).map(FieldValue.decimal) ?? value
        case (.timestamp, .text(let t)): Timestamp.parseSeconds(t).map(FieldValue.time) ?? value
        case (.text, .integer(let i)), (.enumeration, .integer(let i)), (.owner, .integer(let i)): .text(String(i))
        case (.text, .decimal(let d)): .text(DecimalText.format(d))
        case (.text, .bool(let b)): .text(String(b))
        default: value
        }
    }

    func normaliseCRM(_ value: FieldValue) -> FieldValue {
        switch (field.transform, value) {
        case (.boolean, _): return Self.boolean(value) ?? value
        case (_, .null): return .null
        case (.text, .text("")): return .null
        case (.number, .text(let t)): return t.isEmpty ? .null : DecimalText.parse(t).map(FieldValue.decimal) ?? value
        case (.number, .integer(let i)): return .decimal(Decimal(i))
        case (.money(fixedCurrency: _?), .text(let t)):
            return t.isEmpty ? .integer(0) : Int64(t).map(FieldValue.integer) ?? DecimalText.parse(t).map(FieldValue.decimal) ?? value
        case (.money(fixedCurrency: _?), .decimal(let d)):
            return .integer(NSDecimalNumber(decimal: DecimalText.rounded(d, scale: 0)).int64Value)
        case (.money(fixedCurrency: nil), .money(let m)):
            return .money(Money(amount: DecimalText.rounded(m.amount, scale: 2), currency: m.currency))
        case (.timestamp, .text(let t)):
            if t.isEmpty { return .null }
            if let seconds = Int64(t) { return .time(seconds) }
            return Timestamp.parseSeconds(t).map(FieldValue.time) ?? value
        case (.timestamp, .integer(let i)): return .time(i)
        case (.enumeration, .integer(let i)), (.owner, .integer(let i)), (.text, .integer(let i)): return .text(String(i))
        case (.enumeration, .text("")), (.owner, .text("")), (.owner, .text("0")), (.stage, .text("")): return .null
        case (.text, .decimal(let d)): return .text(DecimalText.format(d))
        case (.text, .bool(let b)): return .text(String(b))  // a checkbox mapped as text reads as before
        default: return value
        }
    }

    /// A yes/no in any of the forms the systems use: JSON booleans, amoCRM webhook `"1"`/`"0"`, Bitrix24
    /// `"1"`/`"0"` and `"Y"`/`"N"`; unset and empty are `false`. Anything else is left as it is (and does not fit).
    static func boolean(_ value: FieldValue) -> FieldValue? {
        switch value {
        case .null: return .bool(false)
        case .bool: return value
        case .integer(let i) where i == 0 || i == 1: return .bool(i == 1)
        case .text(let t):
            switch t.lowercased() {
            case "1", "y", "true", "yes": return .bool(true)
            case "0", "n", "false", "no", "": return .bool(false)
            default: return nil
            }
        default: return nil
        }
    }

    // MARK: Transforms

    /// The CRM value for a canonical value.
    public func toCRM(_ canonical: FieldValue) -> Result<FieldValue, Unmapped> {
        if canonical == .null {
            if case .money(fixedCurrency: _?) = field.transform { return .success(.integer(0)) }
            if case .boolean = field.transform { return .success(.bool(false)) }
            return .success(.null)
        }
        switch (field.transform, canonical) {
        case (.text, .text), (.number, .decimal), (.timestamp, .time), (.boolean, .bool):
            return .success(canonical)
        case (.money(let fixed?), .money(let money)):
            guard money.currency == fixed else {
                return .failure(Unmapped(description: "amount in \(money.currency), but the CRM keeps \(fixed)"))
            }
            return .success(.integer(NSDecimalNumber(decimal: DecimalText.rounded(money.amount, scale: 0)).int64Value))
        case (.money(nil), .money(let money)):
            return .success(.money(Money(amount: DecimalText.rounded(money.amount, scale: 2), currency: money.currency)))
        case (.enumeration(let map), .text(let code)):
            guard let value = map[code] else {
                return .failure(Unmapped(description: "value '\(code)' has no CRM counterpart in the enum map"))
            }
            return .success(.text(value))
        case (.stage, .text(let stage)):
            guard let key = stages.crmStage(for: stage) else {
                return .failure(Unmapped(description: "canonical stage '\(stage)' has no CRM stage in the matrix"))
            }
            return .success(.text(key))
        case (.owner, .text(let owner)):
            guard let user = owners.crmUser(forOwner: owner) else {
                return .failure(Unmapped(description: "owner '\(owner)' is not in the owner directory"))
            }
            return .success(.text(user))
        default:
            return .failure(Unmapped(description: "a \(kindName(canonical)) value does not fit transform \(field.transform.name)"))
        }
    }

    /// The canonical value for a CRM value.
    public func toMaster(_ crm: FieldValue) -> Result<FieldValue, Unmapped> {
        if crm == .null { return .success(field.transform == .boolean ? .bool(false) : .null) }
        switch (field.transform, crm) {
        case (.text, .text), (.number, .decimal), (.timestamp, .time), (.money(nil), .money), (.boolean, .bool):
            return .success(crm)
        case (.money(let fixed?), .integer(let amount)):
            return .success(.money(Money(amount: Decimal(amount), currency: fixed)))
        case (.enumeration(let map), .text(let value)):
            guard let code = map.first(where: { $0.value == value })?.key else {
                return .failure(Unmapped(description: "CRM value '\(value)' is not in the enum map"))
            }
            return .success(.text(code))
        case (.stage, .text(let key)):
            guard let stage = stages.canonicalStage(for: key) else {
                let name = stages.crmStageName(key).map { " (\($0))" } ?? ""
                return .failure(Unmapped(description: "CRM stage \(key)\(name) is not in the stage matrix"))
            }
            return .success(.text(stage))
        case (.owner, .text(let user)):
            guard let owner = owners.owner(forCRMUser: user) else {
                return .failure(Unmapped(description: "CRM user \(user) is not in the owner directory"))
            }
            return .success(.text(owner))
        default:
            return .failure(Unmapped(description: "a \(kindName(crm)) value does not fit transform \(field.transform.name)"))
        }
    }

    /// Whether a side's value says the same as the decided canonical value.
    ///
    /// A CRM value agrees when it is what dealsync would write, or when it maps back to the decided value:
    /// a lead in "Прогрев" agrees with canonical `qualified` even though dealsync writes "Квалификация".
    public func agrees(_ value: FieldValue, on side: Side, with canonical: FieldValue) -> Bool {
        switch side {
        case .master:
            return value == canonical
        case .crm:
            if case .success(let projected) = toCRM(canonical), projected == value { return true }
            if case .success(let back) = toMaster(value), back == canonical { return true }
            return false
        }
    }

    /// A side's value as canonical (identity for MasterDeal).
    public func canonical(_ value: FieldValue, from side: Side) -> Result<FieldValue, Unmapped> {
        side == .master ? .success(value) : toMaster(value)
    }

    /// The value to write on a side for a canonical value (identity for MasterDeal).
    public func project(_ canonical: FieldValue, to side: Side) -> Result<FieldValue, Unmapped> {
        side == .master ? .success(canonical) : toCRM(canonical)
    }

    /// The key of this field in a side's records.
    public func key(on side: Side) -> String { side == .master ? field.master : field.crm }

    private func kindName(_ value: FieldValue) -> String {
        switch value {
        case .null: "null"
        case .text: "text"
        case .integer: "integer"
        case .decimal: "number"
        case .bool: "boolean"
        case .money: "money"
        case .time: "timestamp"
        }
    }
}
