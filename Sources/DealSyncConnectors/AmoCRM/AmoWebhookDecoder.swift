import DealSyncCore
import Foundation
import Logging
import NIOHTTP1

/// Decodes amoCRM's legacy v2 webhook form (`leads[<action>][<i>][<field>]=…`) into observations.
///
/// Several leads and several actions can arrive in one POST, keys in any order, all values strings. Custom
/// fields come as `custom_fields[j][id]`, `[values][k][value]`, `[values][k][enum]`, and date fields as a
/// bare `[values][k]=<unix>`. The automation form carries ids only: those leads must be fetched.
public struct AmoWebhookDecoder: Sendable {
    public let connector: String
    /// The custom field that holds `master_deal_id`.
    public let linkFieldID: Int64?

    public init(connector: String, linkFieldID: Int64?) {
        self.connector = connector
        self.linkFieldID = linkFieldID
    }

    static let actions: [(name: String, action: Observation.Action)] = [
        ("add", .upsert), ("update", .upsert), ("status", .upsert), ("responsible", .upsert), ("restore", .restore),
        ("delete", .delete),
    ]

    public struct Decoded: Sendable, Equatable {
        public var observations: [Observation]
        public var fetch: [String]
        public var accountID: String?
    }

    public func decode(_ form: PHPForm.Map) throws(DecodeError) -> Decoded {
        guard let leads = form["leads"]?.map else { throw DecodeError("no leads[...] in the form") }
        var observations: [Observation] = []
        var fetch: [String] = []
        for (name, action) in Self.actions {
            guard let entries = leads[name]?.map else { continue }
            for entry in entries.indexed {
                guard let lead = entry.map, let id = lead["id"]?.string, !id.isEmpty, Int64(id) != nil else {
                    throw DecodeError("leads[\(name)] has an entry without a numeric id")
                }
                let stampText = lead["last_modified"]?.string ?? lead["updated_at"]?.string
                if action == .delete {
                    let stamp = stampText.flatMap(Int64.init).map { SourceStamp(seconds: $0) }
                    observations.append(Observation(connector: connector, side: .crm, recordID: id, action: .delete, stamp: stamp))
                    continue
                }
                guard let stampText, let seconds = Int64(stampText), lead["name"] != nil else {
                    // The automation form: only ids and statuses. The lead must be read.
                    fetch.append(id)
                    continue
                }
                var fields = Self.fields(of: lead)
                let link = linkFieldID.flatMap { fields["custom_fields.\($0)"]?.plainText }
                if let linkFieldID { fields["custom_fields.\(linkFieldID)"] = nil }
                observations.append(
                    Observation(
                        connector: connector, side: .crm, recordID: id, action: action, fields: fields,
                        stamp: SourceStamp(seconds: seconds), linkedMasterID: link?.isEmpty == false ? link : nil,
                        byIntegration: lead["modified_user_id"]?.string == "0", isComplete: true))
            }
        }
        if observations.isEmpty && fetch.isEmpty { throw DecodeError("leads[...] holds no known action") }
        return Decoded(observations: observations, fetch: fetch, accountID: form["account"]?["id"]?.string)
    }

    /// The record keys of one v2 lead entry.
    static func fields(of lead: PHPForm.Map) -> [String: FieldValue] {
        var fields: [String: FieldValue] = [:]
        if let name = lead["name"]?.string { fields["name"] = .text(name) }
        if let price = lead["price"]?.string { fields["price"] = .integer(Int64(price) ?? Int64(Double(price) ?? 0)) }
        if let status = lead["status_id"]?.string, let pipeline = lead["pipeline_id"]?.string,
            let s = Int64(status), let p = Int64(pipeline)
        {
            fields["status"] = .text(StageMatrix.amoKey(pipeline: p, status: s))
        }
        if let user = lead["responsible_user_id"]?.string { fields["responsible_user_id"] = .text(user) }
        if let reason = lead["loss_reason_id"]?.string {
            fields["loss_reason_id"] = reason == "0" || reason.isEmpty ? .null : .text(reason)
        }
        for field in lead["custom_fields"]?.map?.indexed ?? [] {
            guard let field = field.map, let id = field["id"]?.string else { continue }
            let values = field["values"]?.map?.indexed ?? []
            fields["custom_fields.\(id)"] = values.first.map(Self.customValue) ?? .null
        }
        return fields
    }

    /// A select's enum id when there is one, else the value (a bare value for date fields).
    static func customValue(_ value: PHPForm.Value) -> FieldValue {
        switch value {
        case .string(let bare): return .text(bare)
        case .map(let map):
            if let enumID = map["enum"]?.string, !enumID.isEmpty { return .text(enumID) }
            return .text(map["value"]?.string ?? "")
        }
    }
}
