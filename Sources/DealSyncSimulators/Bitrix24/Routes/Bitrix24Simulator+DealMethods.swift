import Synchronization

/// `crm.deal.get`, `.list`, `.add`, `.update`, `.delete`, `.fields`, `.userfield.list`.
extension Bitrix24Simulator {
    func getDeal(_ call: BitrixCall) throws(BitrixError) -> BitrixOutcome {
        let id = call.params.crmEntityID
        guard id > 0 else { throw .invalidID }
        guard let deal = book.withLock({ $0[id] }) else { throw .notFound }
        return BitrixOutcome(BitrixDealJSON.full(deal, portal: portal), rows: 1)
    }

    func listDeals(_ call: BitrixCall) throws(BitrixError) -> BitrixOutcome {
        let query = try BitrixDealQuery(call.params, portal: portal)
        let deals = book.withLock { $0.all }
        let page = query.run(on: deals, portal: portal)
        let rows = page.deals.map {
            BitrixDealJSON.object($0, portal: portal, fields: query.fields, userFields: query.userFields, source: .list)
        }
        return BitrixOutcome(
            .array(rows), total: page.total, next: page.next, rows: rows.count,
            countedRows: page.counted ? page.total : 0)
    }

    func addDeal(_ call: BitrixCall) throws(BitrixError) -> BitrixOutcome {
        let fields = try Self.fields(call.params)
        let deal = addDeal(BitrixDealWrite(fields), actor: call.caller.userID)
        return BitrixOutcome(.int(deal.id), rows: 1, writes: 1)
    }

    func updateDeal(_ call: BitrixCall) throws(BitrixError) -> BitrixOutcome {
        let id = call.params.crmEntityID
        guard id > 0 else { throw .invalidID }
        let fields = try Self.fields(call.params)
        guard updateDeal(id, BitrixDealWrite(fields), actor: call.caller.userID) != nil else { throw .notFound }
        return BitrixOutcome(.bool(true), rows: 1, writes: 1)
    }

    func deleteDeal(_ call: BitrixCall) throws(BitrixError) -> BitrixOutcome {
        let id = call.params.crmEntityID
        guard id > 0 else { throw .invalidID }
        guard deleteDeal(id, actor: call.caller.userID) != nil else { throw .notFound }
        return BitrixOutcome(.bool(true), rows: 1, writes: 1)
    }

    /// `fields`: absent is an empty array; a scalar is refused.
    private static func fields(_ params: QueryForm.Map) throws(BitrixError) -> QueryForm.Map {
        switch params.crmParameter("fields") {
        case nil: return QueryForm.Map()
        case .map(let map)?: return map
        case .string?: throw .mustBeArray("fields")
        }
    }

    // MARK: Field descriptions

    func dealFields() -> BitrixOutcome {
        var members: [(String, BitrixJSON)] = BitrixDealSchema.fields.map { field in
            var info: [(String, BitrixJSON)] = [
                ("type", .string(field.type)), ("isRequired", .bool(field.required)), ("isReadOnly", .bool(field.readOnly)),
                ("isImmutable", .bool(field.immutable)), ("isMultiple", .bool(false)), ("isDynamic", .bool(false)),
            ]
            if let statusType = field.statusType { info.append(("statusType", .string(statusType))) }
            info.append(("title", .string(field.title)))
            return (field.name, .object(info))
        }
        for field in portal.userFields {
            var info: [(String, BitrixJSON)] = [
                ("type", .string(field.kind.rawValue)), ("isRequired", .bool(field.mandatory)), ("isReadOnly", .bool(false)),
                ("isImmutable", .bool(false)), ("isMultiple", .bool(field.multiple)), ("isDynamic", .bool(true)),
            ]
            if field.kind == .enumeration {
                info.append(("items", .array(field.items.map { .object([("ID", .string(String($0.id))), ("VALUE", .string($0.value))]) })))
            }
            info += [
                ("title", .string(field.name)), ("listLabel", .string(field.label)), ("formLabel", .string(field.label)),
                ("filterLabel", .string(field.label)),
            ]
            members.append((field.name, .object(info)))
        }
        return BitrixOutcome(.object(members))
    }

    /// `crm.deal.userfield.list {filter}`: filter on `ID`, `FIELD_NAME`, `USER_TYPE_ID`, `MULTIPLE`, `MANDATORY`.
    func listUserFields(_ call: BitrixCall) -> BitrixOutcome {
        let filter = call.params.crmParameter("filter")?.map ?? QueryForm.Map()
        let items: [BitrixJSON] = portal.userFields.compactMap { field in
            let values: [String: String] = [
                "ID": String(field.id), "FIELD_NAME": field.name, "USER_TYPE_ID": field.kind.rawValue,
                "MULTIPLE": field.multiple ? "Y" : "N", "MANDATORY": field.mandatory ? "Y" : "N",
            ]
            for (key, value) in filter.entries {
                let name = String(key.drop { !$0.isLetter }).uppercased()
                if let expected = value.string, let actual = values[name], actual != expected { return nil }
            }
            var members: [(String, BitrixJSON)] = [
                ("ID", .string(String(field.id))), ("ENTITY_ID", .string("CRM_DEAL")), ("FIELD_NAME", .string(field.name)),
                ("USER_TYPE_ID", .string(field.kind.rawValue)), ("XML_ID", .null), ("SORT", .string("100")),
                ("MULTIPLE", .string(field.multiple ? "Y" : "N")), ("MANDATORY", .string(field.mandatory ? "Y" : "N")),
                ("SHOW_FILTER", .string("E")), ("SHOW_IN_LIST", .string("Y")), ("EDIT_IN_LIST", .string("Y")),
                ("IS_SEARCHABLE", .string("N")), ("SETTINGS", .array([])),
            ]
            if field.kind == .enumeration {
                members.append(
                    (
                        "LIST",
                        .array(
                            field.items.map { item in
                                .object([
                                    ("ID", .string(String(item.id))), ("SORT", .string(String(item.sort))), ("VALUE", .string(item.value)),
                                    ("DEF", .string("N")), ("XML_ID", .string("sim\(item.id)")),
                                ])
                            })
                    ))
            }
            return .object(members)
        }
        return BitrixOutcome(.array(items), total: items.count, rows: items.count)
    }
}
