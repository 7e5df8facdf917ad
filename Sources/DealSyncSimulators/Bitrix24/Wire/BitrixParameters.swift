import Foundation

/// Method parameters as the portal's PHP sees them: one nested array from the query string and the body (JSON or
/// `application/x-www-form-urlencoded` with bracket keys), the body winning. Every leaf is a string, as after PHP's
/// `parse_str`; JSON numbers and booleans become their PHP string forms.
enum BitrixParameters {
    /// Merges `query` and `body`; a body that is neither JSON nor a form adds nothing.
    static func parse(query: String?, body: String, contentType: String?) -> QueryForm.Map {
        var merged = query.map(QueryForm.parse) ?? QueryForm.Map()
        let trimmed = body.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return merged }
        let looksJSON = contentType?.lowercased().contains("json") ?? false || trimmed.hasPrefix("{")
        let fromBody: QueryForm.Map?
        if looksJSON, let json = BitrixJSON.parse(trimmed) {
            fromBody = value(of: json).map
        } else {
            fromBody = QueryForm.parse(trimmed)
        }
        for (key, value) in fromBody?.entries ?? [] { merged[key] = value }
        return merged
    }

    /// A JSON value as PHP's `json_decode(..., true)` then string conversion would give it.
    static func value(of json: BitrixJSON) -> QueryForm.Value {
        switch json {
        case .null: return .string("")
        case .bool(let flag): return .string(flag ? "1" : "")
        case .int(let number): return .string(String(number))
        case .double(let number):
            return .string(number == number.rounded() && abs(number) < 1e15 ? String(Int(number)) : String(number))
        case .string(let text): return .string(text)
        case .array(let items):
            var map = QueryForm.Map()
            for (index, item) in items.enumerated() { map[String(index)] = value(of: item) }
            return .map(map)
        case .object(let members):
            var map = QueryForm.Map()
            for (key, member) in members { map[key] = value(of: member) }
            return .map(map)
        }
    }

    /// PHP truthiness of a flag such as `halt` (`"1"`, `"true"`, `"Y"` are true; `""`, `"0"`, `"false"`, `"N"` false).
    static func isTrue(_ value: QueryForm.Value?) -> Bool {
        guard let text = value?.string?.trimmingCharacters(in: .whitespaces).lowercased() else {
            return value?.map.map { !$0.isEmpty } ?? false
        }
        return !["", "0", "false", "n", "no"].contains(text)
    }
}

extension QueryForm.Map {
    /// A parameter the way the CRM methods look it up: `FILTER`, `filter`, `Filter`, then `arFilter`.
    func crmParameter(_ name: String) -> QueryForm.Value? {
        let lower = name.lowercased()
        let capitalized = lower.prefix(1).uppercased() + lower.dropFirst()
        return self[name.uppercased()] ?? self[lower] ?? self[capitalized] ?? self["ar" + capitalized]
    }

    /// `ID` or `id` as PHP's `intval` reads it (0 when absent).
    var crmEntityID: Int {
        guard let text = (self["ID"] ?? self["id"])?.string else { return 0 }
        return BitrixDealWrite.phpInt(text)
    }

    /// A plain string parameter under any of the given names.
    func text(_ names: String...) -> String? {
        for name in names { if let value = self[name]?.string { return value } }
        return nil
    }
}
