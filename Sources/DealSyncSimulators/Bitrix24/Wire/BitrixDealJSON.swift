/// Deals as `crm.deal.get` and `crm.deal.list` write them: string values, null for empty standard fields — but an
/// empty date reads `""` from `crm.deal.get` (as seen on real reads), so a reader must take both for "no date".
enum BitrixDealJSON {
    /// How an unset field reads: `crm.deal.get` fills a user field from the user-field manager (`""`, or `[]` for a
    /// multiple field) and an empty date with `""`; `crm.deal.list` gives null for both.
    enum Source: Sendable {
        case get, list
    }

    /// Every standard field and every user field (`crm.deal.get`).
    static func full(_ deal: BitrixDeal, portal: BitrixPortal) -> BitrixJSON {
        object(deal, portal: portal, fields: BitrixDealSchema.names, userFields: portal.userFields.map(\.name), source: .get)
    }

    /// The given standard fields then user fields, in the portal's order.
    static func object(
        _ deal: BitrixDeal, portal: BitrixPortal, fields: [String], userFields: [String],
        source: Source
    ) -> BitrixJSON {
        var members: [(String, BitrixJSON)] = []
        for name in fields {
            guard case .some(let value) = BitrixDealSchema.value(name, of: deal, portal: portal) else { continue }
            let isDate = ["date", "datetime"].contains(BitrixDealSchema.field(name)?.type ?? "")
            members.append((name, value.map { .string($0) } ?? (source == .get && isDate ? .string("") : .null)))
        }
        for name in userFields {
            guard let field = portal.userField(name) else { continue }
            let values = deal.userFields[name] ?? []
            if field.multiple {
                members.append((name, .array(values.map { .string($0) })))
            } else if let value = values.first {
                members.append((name, .string(value)))
            } else {
                members.append((name, source == .get ? .string("") : .null))
            }
        }
        return .object(members)
    }
}
