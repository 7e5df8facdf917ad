import DealSyncCore
import Foundation
import Logging
import NIOHTTP1

/// MasterDeal deal JSON ↔ the record keys the mapping speaks.
///
/// Keys: `opportunity_name`, `stage`, `amount` (a ``Money`` built from `amount` + `currency`), `owner_id`,
/// `sla_due_at` (unix seconds), `attributes.<key>`.
public enum MasterDealRecord {
    public struct Parsed: Sendable {
        public var id: String
        public var account: String?
        public var fields: [String: FieldValue]
        public var stamp: SourceStamp?
        public var version: Int64?
    }

    public static func parse(_ deal: JSONValue) -> Parsed? {
        guard let id = deal["id"]?.text else { return nil }
        var fields: [String: FieldValue] = [:]
        if let name = deal["opportunity_name"] { fields["opportunity_name"] = name.string.map(FieldValue.text) ?? .null }
        if let stage = deal["stage"] { fields["stage"] = stage.string.map(FieldValue.text) ?? .null }
        if let owner = deal["owner_id"] { fields["owner_id"] = owner.text.map(FieldValue.text) ?? .null }
        if let amount = deal["amount"] {
            if let text = amount.text, let value = DecimalText.parse(text), let currency = deal["currency"]?.string {
                fields["amount"] = .money(Money(amount: value, currency: currency))
            } else {
                fields["amount"] = .null
            }
        }
        if let due = deal["sla_due_at"] {
            fields["sla_due_at"] = due.string.flatMap(Timestamp.parseSeconds).map(FieldValue.time) ?? .null
        }
        for (key, value) in deal["attributes"]?.object ?? [:] {
            fields["attributes.\(key)"] = fieldValue(value)
        }
        let version = deal["version"]?.int64
        let millis = deal["updated_at"]?.string.flatMap(Timestamp.parseMillis)
        let stamp = millis.map { SourceStamp(millis: $0, version: version) }
        return Parsed(id: id, account: deal["account_id"]?.string, fields: fields, stamp: stamp, version: version)
    }

    static func fieldValue(_ json: JSONValue) -> FieldValue {
        switch json {
        case .null: .null
        case .bool(let b): .bool(b)
        case .number(let n): Int64(n).map(FieldValue.integer) ?? DecimalText.parse(n).map(FieldValue.decimal) ?? .text(n)
        case .string(let s): .text(s)
        case .array, .object: .text(String(decoding: json.data(), as: UTF8.self))
        }
    }

    /// The JSON body of a create or a merge-patch for mapped values.
    public static func body(for values: [String: FieldValue]) -> JSONValue {
        var object: [String: JSONValue] = [:]
        var attributes: [String: JSONValue] = [:]
        for (key, value) in values {
            if key.hasPrefix("attributes.") {
                attributes[String(key.dropFirst("attributes.".count))] = json(value)
                continue
            }
            switch (key, value) {
            case ("amount", .money(let money)):
                object["amount"] = .string(DecimalText.format(money.amount, minimumFractionDigits: 2))
                object["currency"] = .string(money.currency)
            case ("amount", .null):
                object["amount"] = .null
            case ("sla_due_at", .time(let seconds)):
                object["sla_due_at"] = .string(Timestamp.iso8601(seconds: seconds))
            default:
                object[key] = json(value)
            }
        }
        if !attributes.isEmpty { object["attributes"] = .object(attributes) }
        return .object(object)
    }

    static func json(_ value: FieldValue) -> JSONValue {
        switch value {
        case .null: .null
        case .text(let s): .string(s)
        case .integer(let i): .number(String(i))
        case .decimal(let d): .number(DecimalText.format(d))
        case .bool(let b): .bool(b)
        case .money(let m): .string(DecimalText.format(m.amount, minimumFractionDigits: 2))
        case .time(let t): .string(Timestamp.iso8601(seconds: t))
        }
    }
}
