import DealSyncCore

extension Bitrix24Simulator.Configuration {
    /// A portal shaped like `mapping`: its funnel with the mapping's stages (in the matrix's order; `WON` succeeds,
    /// `LOSE` and `APOLOGY` fail), a user per owner plus the integration user, a user field per `UF_` field (a
    /// list field's items are the enumeration's ids), and no deals.
    public init(matching mapping: Mapping) {
        self.init()
        var stages: [Stage] = []
        for entry in mapping.stages.entries {
            for stage in entry.crm {
                let code = mapping.pipeline == 0 ? stage.key : String(stage.key.split(separator: ":", maxSplits: 1).last ?? "")
                guard !code.isEmpty, !stages.contains(where: { $0.code == code }) else { continue }
                let semantics: Stage.Semantics = code == "WON" ? .success : ["LOSE", "APOLOGY"].contains(code) ? .failure : .process
                stages.append(Stage(code: code, name: stage.name ?? entry.canonical, sort: (stages.count + 1) * 10, semantics: semantics))
            }
        }
        categories = [Category(id: mapping.pipeline, name: mapping.pipeline == 0 ? "Общая" : mapping.name, stages: stages)]
        var users = mapping.owners.entries.compactMap { owner -> User? in
            guard let id = Int(owner.crm) else { return nil }
            return User(id: id, name: owner.name ?? owner.master, lastName: "", email: owner.email ?? "\(owner.master)@example.com")
        }
        if !users.contains(where: { $0.id == Default.integrationUser }) {
            users.insert(
                User(id: Default.integrationUser, name: "Интеграция", lastName: "Dealsync", email: "integration@example.com"), at: 0)
        }
        self.users = users
        var fields: [UserField] = []
        for field in mapping.fields where field.crm.hasPrefix("UF_") && !fields.contains(where: { $0.name == field.crm }) {
            let id = 301 + fields.count
            switch field.transform {
            case .number: fields.append(UserField(id: id, name: field.crm, kind: .double, label: field.name))
            case .boolean: fields.append(UserField(id: id, name: field.crm, kind: .boolean, label: field.name))
            case .enumeration(let values):
                let items = values.compactMap { code, item in Int(item).map { UserField.Item(id: $0, value: code) } }
                fields.append(
                    UserField(id: id, name: field.crm, kind: .enumeration, label: field.name, items: items.sorted { $0.id < $1.id }))
            default: fields.append(UserField(id: id, name: field.crm, kind: .string, label: field.name))
            }
        }
        if mapping.linkField.hasPrefix("UF_"), !fields.contains(where: { $0.name == mapping.linkField }) {
            fields.append(UserField(id: 301 + fields.count, name: mapping.linkField, kind: .string, label: "master_deal_id"))
        }
        userFields = fields
        seedDeals = []
    }
}
