/// Deals as `crm.deal.get` and `crm.deal.list` write them: string values, null for empty standard fields.
enum BitrixDealJSON {
    /// How an unset user field reads: `crm.deal.get` fills it from the user-field manager (`""`, or `[]` for a
    /// multiple field), `crm.deal.list` from the joined table (null).
    enum Source: Sendable {
        case get, list
    }

    /// Every standard field and every user field (`crm.deal.get`).
    static func full(_ deal: BitrixDeal, portal: BitrixPortal) -> BitrixJSON {
        object(deal, portal: portal, fields: BitrixDealSchema.names, userFields: portal.userFields.map(\.name), source: .get)
    }

    /// The given standard fields then user fields, in the portal's order.
    static func object(_ deal: BitrixDeal, portal: BitrixPortal, fields: [String], userFields: [String],
                       source: Source) -> BitrixJSON {
        var members: [(String, BitrixJSON)] = []
        for name in fields {
            guard case .some(let value) = BitrixDealSchema.value(name, of: deal, portal: portal) else { continue }
            members.append((name, value.map { .string($0) } ?? .null))
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
