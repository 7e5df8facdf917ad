import Foundation

/// Turns one written custom field value (`{"value": ...}`, `{"enum_id": ...}`) into stored text, by field type.
enum AmoFieldValueParser {
    static func parse(
        _ json: AmoJSON, field: AmoCRMSimulator.CustomField, path: String
    )
        -> Result<AmoFieldValue.Item, AmoValidationIssue>
    {
        guard json.members != nil else { return .failure(.invalidType(path, type: "array")) }
        if field.type.hasEnums {
            return parseChoice(json, field: field, path: path)
        }
        guard let value = json["value"], !value.isNull else { return .failure(.missing("\(path).value")) }
        let valuePath = "\(path).value"
        switch field.type {
        case .numeric:
            let text: String? =
                switch value {
                case .int(let number): String(number)
                case .double(let number): DecimalString.parse(String(number)).map { DecimalString.format($0) }
                case .string(let string): DecimalString.parse(string).map { DecimalString.format($0) }
                default: nil
                }
            return text.map { .success(.init(value: $0)) } ?? .failure(.invalidType(valuePath, type: "numeric"))
        case .checkbox:
            switch value {
            case .bool(let flag): return .success(.init(value: flag ? "1" : "0"))
            case .int(let number) where number == 0 || number == 1: return .success(.init(value: String(number)))
            default: return .failure(.invalidType(valuePath, type: "bool"))
            }
        case .date, .dateTime, .birthday:
            switch value {
            case .int(let seconds): return .success(.init(value: String(seconds)))
            case .string(let text):
                if let seconds = Int(text) ?? DateText.seconds(text).map({ Int($0) }) {
                    return .success(.init(value: String(seconds)))
                }
                return .failure(.invalidType(valuePath, type: "int"))
            default: return .failure(.invalidType(valuePath, type: "int"))
            }
        default:
            switch value {
            case .string(let text): return .success(.init(value: text))
            case .int(let number): return .success(.init(value: String(number)))
            case .double(let number): return .success(.init(value: String(number)))
            default: return .failure(.invalidType(valuePath, type: "string"))
            }
        }
    }

    private static func parseChoice(
        _ json: AmoJSON, field: AmoCRMSimulator.CustomField, path: String
    )
        -> Result<AmoFieldValue.Item, AmoValidationIssue>
    {
        if let enumID = json["enum_id"], !enumID.isNull {
            guard let id = enumID.int, let choice = field.enums.first(where: { $0.id == id }) else {
                return .failure(.notSupportedChoice("\(path).enum_id"))
            }
            return .success(.init(value: choice.value, enumID: choice.id))
        }
        if json["enum_code"] != nil, json["value"] == nil {
            return .failure(.notSupportedChoice("\(path).enum_code"))
        }
        guard let value = json["value"], !value.isNull else { return .failure(.missing("\(path).value")) }
        let text = value.string ?? value.int.map(String.init)
        guard let text, let choice = field.enums.first(where: { $0.value == text }) else {
            return .failure(.notSupportedChoice("\(path).value"))
        }
        return .success(.init(value: choice.value, enumID: choice.id))
    }
}
