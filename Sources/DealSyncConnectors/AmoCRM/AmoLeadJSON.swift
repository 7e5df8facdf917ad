import DealSyncCore
import Foundation
import Logging
import NIOHTTP1

/// amoCRM API v4 lead JSON ↔ the record keys the mapping speaks (`name`, `price`, `status` as
/// `"<pipeline>:<status>"`, `responsible_user_id`, `custom_fields.<id>`).
public enum AmoLeadJSON {
    public struct Parsed: Sendable {
        public var id: String
        public var fields: [String: FieldValue]
        public var updatedAt: Int64?
        public var linkedMasterID: String?
        public var isDeleted: Bool
        public var modifiedByIntegration: Bool
    }

    public static func parse(_ lead: JSONValue, linkFieldID: Int64?) -> Parsed? {
        guard let id = lead["id"]?.int64 else { return nil }
        var fields: [String: FieldValue] = [:]
        if let name = lead["name"]?.text { fields["name"] = .text(name) }
        if let price = lead["price"] { fields["price"] = .integer(price.int64 ?? 0) }
        if let status = lead["status_id"]?.int64, let pipeline = lead["pipeline_id"]?.int64 {
            fields["status"] = .text(StageMatrix.amoKey(pipeline: pipeline, status: status))
        }
        if let user = lead["responsible_user_id"]?.int64 { fields["responsible_user_id"] = .text(String(user)) }
        if let reason = lead["loss_reason_id"] { fields["loss_reason_id"] = reason.int64.map { .text(String($0)) } ?? .null }
        var link: String?
        for field in lead["custom_fields_values"]?.array ?? [] {
            guard let fieldID = field["field_id"]?.int64 else { continue }
            let first = field["values"]?.array?.first
            let value: FieldValue
            if let enumID = first?["enum_id"]?.int64 {
                value = .text(String(enumID))
            } else if case .bool(let checked)? = first?["value"] {
                value = .bool(checked)
            } else if let text = first?["value"]?.text {
                value = .text(text)
            } else {
                value = .null
            }
            if fieldID == linkFieldID {
                link = value.plainText
            } else {
                fields["custom_fields.\(fieldID)"] = value
            }
        }
        return Parsed(
            id: String(id), fields: fields, updatedAt: lead["updated_at"]?.int64, linkedMasterID: link,
            isDeleted: lead["is_deleted"] == .bool(true), modifiedByIntegration: lead["updated_by"]?.int64 == 0)
    }

    /// The write body for mapped values: `status` becomes `status_id` + `pipeline_id`, custom fields become
    /// `custom_fields_values` (selects by `enum_id`, dates as unix seconds, `null` clears), and the write is
    /// marked as a robot's (`updated_by: 0`).
    public static func body(for values: [String: FieldValue], mapping: Mapping, id: Int64?) -> JSONValue {
        var object: [String: JSONValue] = [:]
        if let id { object["id"] = .number(String(id)) }
        var custom: [JSONValue] = []
        var movesOutOfLost = false
        for (key, value) in values.sorted(by: { $0.key < $1.key }) {
            if let fieldID = MappingFieldKey.amoCustomFieldID(key) {
                custom.append(customField(fieldID, value, transform: transform(for: key, in: mapping)))
                continue
            }
            switch (key, value) {
            case ("status", .text(let stage)):
                let parts = stage.split(separator: ":").compactMap { Int64($0) }
                if parts.count == 2 {
                    object["pipeline_id"] = .number(String(parts[0]))
                    object["status_id"] = .number(String(parts[1]))
                    movesOutOfLost = parts[1] != 143
                }
            case ("price", .integer(let price)): object["price"] = .number(String(price))
            case ("price", .null): object["price"] = .number("0")
            case ("responsible_user_id", let user):
                object["responsible_user_id"] = user.plainText.flatMap(Int64.init).map { .number(String($0)) } ?? .null
            case ("loss_reason_id", let reason):
                object["loss_reason_id"] = reason.plainText.flatMap(Int64.init).map { .number(String($0)) } ?? .null
            case (_, .text(let text)): object[key] = .string(text)
            case (_, .null): object[key] = .null
            default: object[key] = .string(value.plainText ?? "")
            }
        }
        // amoCRM accepts a loss reason only on a lost lead: one written with another status is left out. Without a
        // status, only amoCRM knows whether the lead is lost; if it is not, it refuses this element alone.
        if movesOutOfLost, object["loss_reason_id"] != .null { object["loss_reason_id"] = nil }
        if !custom.isEmpty { object["custom_fields_values"] = .array(custom) }
        object["updated_by"] = .number("0")
        return .object(object)
    }

    static func customField(_ id: Int64, _ value: FieldValue, transform: Transform?) -> JSONValue {
        let values: JSONValue
        switch (transform, value) {
        case (_, .null):
            values = .null
        case (.enumeration?, let v):
            values = .array([.object(["enum_id": .number(v.plainText ?? "0")])])
        case (_, .bool(let checked)):
            values = .array([.object(["value": .bool(checked)])])
        case (_, .time(let seconds)):
            values = .array([.object(["value": .number(String(seconds))])])
        case (_, .decimal(let d)):
            values = .array([.object(["value": .number(DecimalText.format(d))])])
        default:
            values = .array([.object(["value": .string(value.plainText ?? "")])])
        }
        return .object(["field_id": .number(String(id)), "values": values])
    }

    static func transform(for key: String, in mapping: Mapping) -> Transform? {
        mapping.fields.first { $0.crm == key }?.transform
    }
}

/// Field keys shared by the mapping and the connectors.
public enum MappingFieldKey {
    /// `custom_fields.<id>` → id.
    public static func amoCustomFieldID(_ key: String) -> Int64? {
        guard key.hasPrefix("custom_fields.") else { return nil }
        return Int64(key.dropFirst("custom_fields.".count))
    }
}
