import DealSyncCore
import Foundation

/// Bitrix24 deal JSON (`crm.deal.get`, `crm.deal.list`) ↔ the record keys the mapping speaks (`TITLE`,
/// `OPPORTUNITY` as a ``Money`` with `CURRENCY_ID`, `STAGE_ID`, `ASSIGNED_BY_ID`, `UF_CRM_*`, …).
enum Bitrix24Deal {
    struct Parsed: Sendable {
        var id: String
        var fields: [String: FieldValue]
        var modifiedAt: Int64?
        var linkedMasterID: String?
        var modifiedBy: String?
        var categoryID: Int?
    }

    static let ignored: Set<String> = [
        "ID", "DATE_MODIFY", "DATE_CREATE", "MODIFY_BY_ID", "CREATED_BY_ID", "CURRENCY_ID",
        "ORIGINATOR_ID", "ORIGIN_ID", "STAGE_SEMANTIC_ID", "CLOSED",
    ]

    static func parse(_ deal: JSONValue, mapping: Mapping) -> Parsed? {
        guard let object = deal.object, let id = deal["ID"]?.text else { return nil }
        var fields: [String: FieldValue] = [:]
        for (key, value) in object where !ignored.contains(key) {
            fields[key] = fieldValue(value)
        }
        if let amount = deal["OPPORTUNITY"]?.text, !amount.isEmpty, let decimal = DecimalText.parse(amount),
            let currency = deal["CURRENCY_ID"]?.text, !currency.isEmpty
        {
            fields["OPPORTUNITY"] = .money(Money(amount: decimal, currency: currency))
        } else if object["OPPORTUNITY"] != nil {
            fields["OPPORTUNITY"] = .null
        }
        var link: String?
        if mapping.linkField == "ORIGIN_ID" {
            if deal["ORIGINATOR_ID"]?.text == mapping.originator { link = deal["ORIGIN_ID"]?.text }
        } else {
            link = fields.removeValue(forKey: mapping.linkField)?.plainText
        }
        let modified = deal["DATE_MODIFY"]?.string.flatMap(Timestamp.parseSeconds)
        return Parsed(
            id: id, fields: fields, modifiedAt: modified, linkedMasterID: link?.isEmpty == false ? link : nil,
            modifiedBy: deal["MODIFY_BY_ID"]?.text, categoryID: deal["CATEGORY_ID"]?.text.flatMap(Int.init))
    }

    static func fieldValue(_ json: JSONValue) -> FieldValue {
        switch json {
        case .null: .null
        case .string(let s): s.isEmpty ? .null : .text(s)
        case .number(let n): .text(n)
        case .bool(let b): .text(b ? "Y" : "N")
        case .array(let items): items.first.map(fieldValue) ?? .null
        case .object: .text(String(decoding: json.data(), as: UTF8.self))
        }
    }

    /// The `fields[...]` pairs of a write, as Bitrix24 wants them: strings, `OPPORTUNITY` as a decimal with
    /// `CURRENCY_ID`, dates as ISO-8601, an empty string to clear.
    static func fieldPairs(_ values: [String: FieldValue]) -> [(String, String)] {
        var pairs: [(String, String)] = []
        for (key, value) in values.sorted(by: { $0.key < $1.key }) {
            switch value {
            case .money(let money):
                pairs.append(("fields[\(key)]", DecimalText.format(money.amount, minimumFractionDigits: 2)))
                pairs.append(("fields[CURRENCY_ID]", money.currency))
            case .time(let seconds):
                pairs.append(("fields[\(key)]", Timestamp.iso8601(seconds: seconds)))
            case .null:
                pairs.append(("fields[\(key)]", ""))
            case .bool(let yes):
                // A boolean user field stores 1 or 0.
                pairs.append(("fields[\(key)]", yes ? "1" : "0"))
            default:
                pairs.append(("fields[\(key)]", value.plainText ?? ""))
            }
        }
        return pairs
    }

    /// A `batch` command: `method?` and the parameters in PHP bracket form.
    static func command(_ method: String, _ pairs: [(String, String)]) -> String {
        "\(method)?\(PHPForm.encode(pairs))"
    }
}
