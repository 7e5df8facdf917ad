import DealSyncCore

extension AmoCRMSimulator.Configuration {
    /// An account shaped like a dealsync mapping expects it: its pipeline and statuses, its owners as users,
    /// its custom fields (selects with the mapped enum ids) and the link field. For the demo and tests.
    public init(matching mapping: Mapping, subdomain: String = "touragency", oauth: AmoCRMSimulator.OAuth = .init()) {
        self.init()
        self.subdomain = subdomain
        var pipelines: [Int: [AmoCRMSimulator.Status]] = [:]
        var order: [Int] = []
        for entry in mapping.stages.entries {
            for stage in entry.crm {
                let parts = stage.key.split(separator: ":").compactMap { Int($0) }
                guard parts.count == 2 else { continue }
                if pipelines[parts[0]] == nil { order.append(parts[0]) }
                pipelines[parts[0], default: []].append(
                    .init(
                        id: parts[1], name: stage.name ?? entry.canonical,
                        isEditable: ![142, 143].contains(parts[1])))
            }
        }
        if pipelines[mapping.pipeline] == nil {
            order.insert(mapping.pipeline, at: 0)
            pipelines[mapping.pipeline] = []
        }
        self.pipelines = order.map { id in
            AmoCRMSimulator.Pipeline(
                id: id, name: id == mapping.pipeline ? mapping.name : "Pipeline \(id)",
                isMain: id == mapping.pipeline, statuses: pipelines[id] ?? [])
        }
        var users = mapping.owners.entries.compactMap { owner -> AmoCRMSimulator.User? in
            guard let id = Int(owner.crm) else { return nil }
            return .init(id: id, name: owner.name ?? owner.master, email: owner.email ?? "\(owner.master)@example.com")
        }
        if !users.contains(where: { $0.id == oauth.userID }) {
            users.append(.init(id: oauth.userID, name: "Integration", email: "integration@example.com", isAdmin: true))
        }
        self.users = users
        var fields: [AmoCRMSimulator.CustomField] = []
        if let link = Self.customFieldID(mapping.linkField) {
            fields.append(.init(id: link, name: "master_deal_id", type: .text))
        }
        for field in mapping.fields {
            guard let id = Self.customFieldID(field.crm) else { continue }
            switch field.transform {
            case .timestamp:
                fields.append(.init(id: id, name: field.name, type: .dateTime))
            case .number:
                fields.append(.init(id: id, name: field.name, type: .numeric))
            case .boolean:
                fields.append(.init(id: id, name: field.name, type: .checkbox))
            case .enumeration(let map):
                let enums = map.compactMap { code, value in Int(value).map { AmoCRMSimulator.CustomField.Enum(id: $0, value: code) } }
                fields.append(.init(id: id, name: field.name, type: .select, enums: enums.sorted { $0.id < $1.id }))
            default:
                fields.append(.init(id: id, name: field.name, type: .text))
            }
        }
        // Every account has its tracking fields, whatever the mapping names.
        fields += Self.trackingFields(firstID: (fields.map(\.id).max() ?? 900_000) + 1)
        self.customFields = fields
        self.seedLeads = []
        self.oauth = oauth
    }

    static func customFieldID(_ key: String) -> Int? {
        guard key.hasPrefix("custom_fields.") else { return nil }
        return Int(key.dropFirst("custom_fields.".count))
    }
}
