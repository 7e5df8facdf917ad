/// Reads one `mappings/*.yaml` document into a ``Mapping``, reporting every problem.
struct MappingReader {
    let file: String
    let sink: DiagnosticSink

    /// Owners a mapping may list: far above any sales team, far below what makes reading a mapping slow.
    static let maxOwners = 10_000

    static let masterFields = ["opportunity_name", "stage", "amount", "owner_id", "sla_due_at"]
    static let amoFields = ["name", "price", "status", "responsible_user_id", "loss_reason_id"]
    static let bitrixFields = [
        "TITLE", "OPPORTUNITY", "STAGE_ID", "ASSIGNED_BY_ID", "CLOSEDATE", "BEGINDATE", "COMMENTS", "SOURCE_ID",
        "SOURCE_DESCRIPTION", "TYPE_ID", "PROBABILITY", "ADDITIONAL_INFO", "COMPANY_ID", "CONTACT_ID",
    ]

    func read(_ root: YAMLValue) -> Mapping? {
        guard let doc = YAMLMappingReader(root, path: "", sink: sink) else { return nil }
        var locations: [String: SourceLocation] = [:]
        for key in doc.keys { locations[key.name] = key.location }

        let name = doc.string("name")
        if let name, !ConnectorConfigReader.isURLSafe(name), let node = doc.node("name") {
            sink.report(node.location, "name: '\(name)' must use lowercase letters, digits, '-' and '_'")
        }
        var crm = doc.choice("crm", ConnectorKind.self)
        if crm == .masterdeal, let node = doc.node("crm") {
            sink.report(node.location, "crm: a mapping is between MasterDeal and a CRM (amocrm or bitrix24)")
            crm = nil
        }
        let pipeline = doc.int("pipeline", range: 0...Int(Int32.max))
        let linkField = doc.string("link_field")
        if let linkField, let crm, let node = doc.node("link_field") {
            checkLinkField(linkField, crm: crm, at: node.location)
        }
        let originator = doc.string("originator", required: false) ?? "dealsync"
        let create = readCreate(doc)
        let stages = readStages(doc, crm: crm, pipeline: pipeline)
        let deletes = readDeletes(doc)
        let owners = readOwners(doc, crm: crm)
        let fields = readFields(doc, crm: crm, linkField: linkField)
        let scope = readScope(doc, stages: stages)
        let matching = readMatching(doc, fields: fields)
        doc.finish()

        guard let name, let crm, let pipeline, let linkField, let create, let stages, let deletes, let owners, let fields, let scope,
            let matching
        else { return nil }
        return Mapping(
            name: name, crm: crm, pipeline: pipeline, linkField: linkField, originator: originator, create: create,
            deletes: deletes, fields: fields, stages: stages, owners: owners, scope: scope, matching: matching, file: file,
            locations: locations)
    }

    private func checkLinkField(_ field: String, crm: ConnectorKind, at location: SourceLocation) {
        switch crm {
        case .amocrm:
            if Self.amoCustomFieldID(field) == nil {
                sink.report(location, "link_field: amoCRM keeps master_deal_id in a custom field: write custom_fields.<field id>")
            }
        case .bitrix24:
            if field != "ORIGIN_ID" && !field.hasPrefix("UF_CRM_") {
                sink.report(location, "link_field: Bitrix24 keeps master_deal_id in ORIGIN_ID or a UF_CRM_* user field")
            }
        case .masterdeal:
            break
        }
    }

    static func amoCustomFieldID(_ field: String) -> Int64? {
        guard field.hasPrefix("custom_fields.") else { return nil }
        return Int64(field.dropFirst("custom_fields.".count)).flatMap { $0 > 0 ? $0 : nil }
    }

    /// `scope: {stages: [lead, qualified], updated_since: 2026-01-01}`: canonical stages known to the stage
    /// matrix, and a date (midnight UTC) or an instant with its offset.
    private func readScope(_ doc: YAMLMappingReader, stages matrix: StageMatrix?) -> SyncScope? {
        guard let scope = doc.mapping("scope", required: false) else { return SyncScope() }
        defer { scope.finish() }
        var result = SyncScope()
        var valid = true
        if let items = scope.sequence("stages", required: false) {
            var names: Set<String> = []
            let known = Set(matrix?.canonicalStages ?? [])
            for item in items {
                guard let name = YAMLScalar.string(item, path: "scope.stages", sink: sink) else {
                    valid = false
                    continue
                }
                if matrix != nil, !known.contains(name) {
                    let hint = YAMLMappingReader.closest(to: name, in: known).map { " (did you mean '\($0)'?)" } ?? ""
                    sink.report(item.location, "scope.stages: '\(name)' is not a canonical stage of this mapping\(hint)")
                    valid = false
                }
                names.insert(name)
            }
            if items.isEmpty, let node = scope.node("stages") {
                sink.report(node.location, "scope.stages: list at least one canonical stage, or leave the key out for every stage")
                valid = false
            }
            result.stages = names
        }
        if let node = scope.node("updated_since"), !node.isNull, !node.isUnresolved {
            if case .scalar(let text, _) = node.content, case .since(let millis)? = ConnectorConfig.Poll.Start.parse(text) {
                result.updatedSinceMillis = millis
            } else {
                sink.report(
                    node.location,
                    "scope.updated_since: expected a date such as 2026-01-01 (midnight UTC) or an instant such as 2026-01-01T09:00:00+03:00, found \(node.quotedForMessage)"
                )
                valid = false
            }
        }
        return valid ? result : nil
    }

    private func readCreate(_ doc: YAMLMappingReader) -> CreatePolicy? {
        guard let create = doc.mapping("create", required: false) else { return CreatePolicy() }
        defer { create.finish() }
        return CreatePolicy(
            inCRM: create.bool("in_crm", required: false) ?? true,
            inMaster: create.bool("in_master", required: false) ?? true)
    }

    private enum DeleteName: String, CaseIterable { case ignore, unlink, propagate }

    private func readDeletes(_ doc: YAMLMappingReader) -> DeletePolicy? {
        guard let node = doc.node("on_delete"), !node.isNull else { return .unlink }
        if case .scalar = node.content {
            guard let policy = YAMLScalar.choice(node, DeleteName.self, path: "on_delete", sink: sink) else { return nil }
            switch policy {
            case .ignore: return .ignore
            case .unlink: return .unlink
            case .propagate:
                sink.report(
                    node.location, "on_delete: propagate needs a master_stage; write on_delete: {policy: propagate, master_stage: <stage>}")
                return nil
            }
        }
        guard let reader = YAMLMappingReader(node, path: "on_delete", sink: sink) else { return nil }
        defer { reader.finish() }
        let policy = reader.choice("policy", DeleteName.self)
        let stage = reader.string("master_stage", required: policy == .propagate)
        switch policy {
        case .ignore?: return .ignore
        case .unlink?: return .unlink
        case .propagate?: return stage.map { .propagate(masterStage: $0) }
        case nil: return nil
        }
    }

    // MARK: Stages

    private func readStages(_ doc: YAMLMappingReader, crm: ConnectorKind?, pipeline: Int?) -> StageMatrix? {
        guard let stages = doc.mapping("stages") else { return nil }
        var entries: [StageMatrix.Entry] = []
        for key in stages.keys {
            guard let items = stages.sequence(key.name) else { continue }
            var crmStages: [StageMatrix.CRMStage] = []
            for (index, item) in items.enumerated() {
                let path = "stages.\(key.name)[\(index)]"
                if let stage = readCRMStage(item, path: path, crm: crm, pipeline: pipeline) { crmStages.append(stage) }
            }
            entries.append(.init(canonical: key.name, crm: crmStages, location: key.location))
        }
        stages.finish()
        if entries.isEmpty {
            sink.report(stages.location, "stages: list at least one canonical stage")
        }
        return StageMatrix(entries: entries)
    }

    private func readCRMStage(_ item: YAMLValue, path: String, crm: ConnectorKind?, pipeline: Int?) -> StageMatrix.CRMStage? {
        switch crm {
        case .amocrm:
            if case .scalar = item.content {
                guard let status = YAMLScalar.int(item, path: path, sink: sink, range: 1...Int(Int32.max)), let pipeline
                else { return nil }
                return .init(key: StageMatrix.amoKey(pipeline: Int64(pipeline), status: Int64(status)), location: item.location)
            }
            guard let reader = YAMLMappingReader(item, path: path, sink: sink) else { return nil }
            defer { reader.finish() }
            let status = reader.int("status", range: 1...Int(Int32.max))
            let itemPipeline = reader.int("pipeline", required: false, range: 0...Int(Int32.max)) ?? pipeline
            let name = reader.string("name", required: false)
            guard let status, let itemPipeline else { return nil }
            return .init(
                key: StageMatrix.amoKey(pipeline: Int64(itemPipeline), status: Int64(status)), name: name,
                location: item.location)
        case .bitrix24:
            if case .scalar = item.content {
                guard let stage = YAMLScalar.string(item, path: path, sink: sink) else { return nil }
                return checkedBitrixStage(stage, name: nil, path: path, location: item.location)
            }
            guard let reader = YAMLMappingReader(item, path: path, sink: sink) else { return nil }
            defer { reader.finish() }
            let stage = reader.string("stage")
            let name = reader.string("name", required: false)
            guard let stage else { return nil }
            return checkedBitrixStage(stage, name: name, path: path, location: item.location)
        case .masterdeal, nil:
            return nil
        }
    }

    private func checkedBitrixStage(_ stage: String, name: String?, path: String, location: SourceLocation) -> StageMatrix.CRMStage? {
        let valid =
            !stage.isEmpty
            && stage.unicodeScalars.allSatisfy {
                ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == ":"
            }
        guard valid else {
            sink.report(location, "\(path): '\(stage)' is not a Bitrix24 STAGE_ID (such as NEW, WON or C2:PREPARATION)")
            return nil
        }
        return .init(key: stage, name: name, location: location)
    }

    // MARK: Owners

    private func readOwners(_ doc: YAMLMappingReader, crm: ConnectorKind?) -> OwnerDirectory? {
        guard let items = doc.sequence("owners", required: false) else { return OwnerDirectory(entries: []) }
        if items.count > Self.maxOwners {
            sink.report(items[Self.maxOwners].location, "owners: more than \(Self.maxOwners) entries; a mapping may list at most that many")
            return nil
        }
        var entries: [OwnerDirectory.Entry] = []
        for (index, item) in items.enumerated() {
            let path = "owners[\(index)]"
            guard let reader = YAMLMappingReader(item, path: path, sink: sink) else { continue }
            let master = reader.string("master")
            let crmUser = reader.node("crm")
            let email = reader.string("email", required: false)
            let name = reader.string("name", required: false)
            reader.finish()
            var crmID: String?
            if let crmUser, !crmUser.isNull {
                if let id = YAMLScalar.int(crmUser, path: "\(path).crm", sink: sink, range: 1...Int(Int64.max)) {
                    crmID = String(id)
                }
            } else {
                sink.report(item.location, "\(path): missing required key 'crm' (the CRM user id)")
            }
            if let email, !Self.looksLikeEmail(email), let node = reader.node("email") {
                sink.report(node.location, "\(path).email: '\(email)' is not an e-mail address")
            }
            if let master, master.isEmpty, let node = reader.node("master") {
                sink.report(node.location, "\(path).master: must not be empty")
            }
            guard let master, let crmID else { continue }
            entries.append(.init(master: master, crm: crmID, email: email, name: name, location: item.location))
        }
        return OwnerDirectory(entries: entries)
    }

    static func looksLikeEmail(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".") && !text.contains(" ")
            && !parts[1].hasPrefix(".") && !parts[1].hasSuffix(".")
    }

    // MARK: Fields

    private func readFields(_ doc: YAMLMappingReader, crm: ConnectorKind?, linkField: String?) -> [FieldMapping]? {
        guard let fields = doc.mapping("fields") else { return nil }
        var result: [FieldMapping] = []
        for key in fields.keys {
            guard let reader = fields.mapping(key.name) else { continue }
            if let field = readField(reader, name: key.name, location: key.location, crm: crm, linkField: linkField) {
                result.append(field)
            }
        }
        fields.finish()
        if result.isEmpty && fields.keys.isEmpty {
            sink.report(fields.location, "fields: map at least one field")
        }
        return result
    }

    private enum SimpleTransform: String, CaseIterable { case text, number, money, timestamp, stage, owner, boolean }

    private func readField(
        _ reader: YAMLMappingReader, name: String, location: SourceLocation, crm: ConnectorKind?,
        linkField: String?
    ) -> FieldMapping? {
        defer { reader.finish() }
        let path = reader.path
        let master = reader.string("master")
        let crmField = reader.string("crm")
        let transform = readTransform(reader)
        let direction = reader.choice("direction", Direction.self, required: false) ?? .both
        let conflictNode = reader.node("conflict")
        let conflict = conflictNode.flatMap { $0.isNull ? nil : readConflict($0, path: "\(path).conflict") }
        let repair = reader.choice("repair", RepairPolicy.self, required: false) ?? .alert
        let pii = reader.bool("pii", required: false) ?? false

        if let master, let node = reader.node("master") {
            let valid = Self.masterFields.contains(master) || (master.hasPrefix("attributes.") && master.count > 11)
            if !valid {
                sink.report(
                    node.location,
                    "\(path).master: unknown MasterDeal field '\(master)' (expected one of \(Self.masterFields.joined(separator: ", ")) or attributes.<key>)"
                )
            }
        }
        if let crmField, let crm, let node = reader.node("crm") {
            checkCRMField(crmField, crm: crm, path: "\(path).crm", at: node.location)
            if crmField == linkField {
                sink.report(node.location, "\(path).crm: \(crmField) is the link field; it holds master_deal_id and cannot be mapped")
            }
        }
        // Direction and conflict rule must agree.
        var rule = conflict ?? .lww
        if let owner = direction.owner {
            if let conflict, conflict != .priority(owner), let conflictNode {
                sink.report(
                    conflictNode.location,
                    "\(path).conflict: a \(direction.rawValue) field can only be resolved by priority: \(owner.rawValue) (found \(conflict))"
                )
            }
            rule = .priority(owner)
        }
        if let master, let transform, let crmField, let crm {
            checkTransform(
                transform, master: master, crm: crmField, kind: crm, path: path, at: reader.node("transform")?.location ?? location)
        }
        guard let master, let crmField, let transform, conflictNode == nil || conflict != nil else { return nil }
        return FieldMapping(
            name: name, master: master, crm: crmField, transform: transform, direction: direction,
            conflict: rule, repair: repair, pii: pii, location: location)
    }

    private func readConflict(_ node: YAMLValue, path: String) -> ConflictRule? {
        if case .scalar(let text, _) = node.content {
            if text == "lww" { return .lww }
            sink.report(node.location, "\(path): expected lww or {priority: master|crm}, found \(node.quotedForMessage)")
            return nil
        }
        guard let reader = YAMLMappingReader(node, path: path, sink: sink) else { return nil }
        defer { reader.finish() }
        return reader.choice("priority", Side.self).map { .priority($0) }
    }

    private func readTransform(_ reader: YAMLMappingReader) -> Transform? {
        guard let node = reader.node("transform"), !node.isNull else {
            return .text
        }
        let path = "\(reader.path).transform"
        if case .scalar = node.content {
            guard let simple = YAMLScalar.choice(node, SimpleTransform.self, path: path, sink: sink) else { return nil }
            switch simple {
            case .text: return .text
            case .number: return .number
            case .money: return .money(fixedCurrency: nil)
            case .timestamp: return .timestamp
            case .stage: return .stage
            case .owner: return .owner
            case .boolean: return .boolean
            }
        }
        guard let t = YAMLMappingReader(node, path: path, sink: sink) else { return nil }
        defer { t.finish() }
        if let money = t.mapping("money", required: false) {
            defer { money.finish() }
            guard let currency = money.string("currency") else { return nil }
            if currency.count != 3 || !currency.unicodeScalars.allSatisfy({ ("A"..."Z").contains($0) }),
                let n = money.node("currency")
            {
                sink.report(n.location, "\(path).money.currency: expected an ISO 4217 code such as RUB")
                return nil
            }
            return .money(fixedCurrency: currency)
        }
        if let values = t.mapping("enum", required: false) {
            var map: [String: String] = [:]
            var seen: [String: String] = [:]
            for key in values.keys {
                guard let node = values.node(key.name) else { continue }
                guard case .scalar(let crmValue, _) = node.content else {
                    sink.report(node.location, "\(path).enum.\(key.name): expected a CRM value")
                    continue
                }
                if let other = seen[crmValue] {
                    sink.report(node.location, "\(path).enum.\(key.name): CRM value '\(crmValue)' is already used by '\(other)'")
                    continue
                }
                seen[crmValue] = key.name
                map[key.name] = crmValue
            }
            values.finish()
            if map.isEmpty {
                sink.report(values.location, "\(path).enum: list at least one value")
                return nil
            }
            return .enumeration(map)
        }
        if t.keys.isEmpty {
            sink.report(node.location, "\(path): expected a transform name or {money: {...}} / {enum: {...}}")
        }
        return nil
    }

    private func checkCRMField(_ field: String, crm: ConnectorKind, path: String, at location: SourceLocation) {
        switch crm {
        case .amocrm:
            if !Self.amoFields.contains(field) && Self.amoCustomFieldID(field) == nil {
                sink.report(
                    location,
                    "\(path): unknown amoCRM lead field '\(field)' (expected one of \(Self.amoFields.joined(separator: ", ")) or custom_fields.<id>)"
                )
            }
        case .bitrix24:
            if !Self.bitrixFields.contains(field) && !(field.hasPrefix("UF_CRM_") && field.count > 7) {
                sink.report(
                    location,
                    "\(path): unknown Bitrix24 deal field '\(field)' (expected one of \(Self.bitrixFields.joined(separator: ", ")) or UF_CRM_*)"
                )
            }
        case .masterdeal:
            break
        }
    }

    private func checkTransform(
        _ transform: Transform, master: String, crm: String, kind: ConnectorKind, path: String,
        at location: SourceLocation
    ) {
        let stageField = kind == .amocrm ? "status" : "STAGE_ID"
        let ownerField = kind == .amocrm ? "responsible_user_id" : "ASSIGNED_BY_ID"
        let moneyField = kind == .amocrm ? "price" : "OPPORTUNITY"
        switch transform {
        case .stage:
            if master != "stage" || crm != stageField {
                sink.report(location, "\(path): transform stage maps master 'stage' to crm '\(stageField)'")
            }
        case .owner:
            if master != "owner_id" || crm != ownerField {
                sink.report(location, "\(path): transform owner maps master 'owner_id' to crm '\(ownerField)'")
            }
        case .money(let fixed):
            if master != "amount" || crm != moneyField {
                sink.report(location, "\(path): transform money maps master 'amount' to crm '\(moneyField)'")
            } else if kind == .amocrm && fixed == nil {
                sink.report(location, "\(path): amoCRM price has no currency: write transform: {money: {currency: RUB}}")
            } else if kind == .bitrix24 && fixed != nil {
                sink.report(location, "\(path): Bitrix24 carries the currency in CURRENCY_ID: write transform: money")
            }
        case .text, .number, .timestamp, .enumeration, .boolean:
            if master == "stage" || master == "owner_id" || master == "amount" {
                let needed = master == "stage" ? "stage" : master == "owner_id" ? "owner" : "money"
                sink.report(location, "\(path): master '\(master)' needs transform \(needed)")
            } else if crm == stageField || crm == ownerField || crm == moneyField {
                sink.report(location, "\(path): crm '\(crm)' is only mapped through the stage, owner or money transform")
            }
            if case .timestamp = transform, master == "opportunity_name" {
                sink.report(location, "\(path): opportunity_name is text, not a timestamp")
            }
            if master == "sla_due_at", transform != .timestamp {
                sink.report(location, "\(path): sla_due_at needs transform timestamp")
            }
        }
    }
}
