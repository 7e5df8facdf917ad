import DealSyncCore

/// `dealsync validate --live` for Bitrix24: the funnel's stages (`crm.status.list`), the deal user fields and
/// their list items (`crm.deal.userfield.list`) and the owner directory's users (`user.get`). Bitrix24 drops
/// unknown stage ids and fields without a word, so this is the only place such a mapping mistake shows.
extension Bitrix24Connector: AccountChecking {
    public func checkAccount() async throws -> AccountReport {
        let known = try await Bitrix24Metadata.load(client: client, category: mapping.pipeline)
        var problems: [AccountProblem] = []
        if known.stages.isEmpty {
            problems.append(
                AccountProblem(mapping.location(of: "pipeline"), "funnel \(mapping.pipeline) has no stages on the portal: does it exist?"))
        }
        var stageCount = 0
        for entry in mapping.stages.entries {
            for stage in entry.crm {
                stageCount += 1
                if !known.stages.isEmpty && !known.stages.contains(stage.key) {
                    problems.append(
                        AccountProblem(
                            stage.location,
                            "stage \(stage.key) (\(entry.canonical)) is not a stage of funnel \(mapping.pipeline) (it has \(known.stages.sorted().joined(separator: ", ")))"
                        ))
                }
            }
        }
        var fieldCount = 0
        for field in mapping.fields where field.crm.hasPrefix("UF_") {
            fieldCount += 1
            guard let items = known.userFields[field.crm] else {
                problems.append(AccountProblem(field.location, "field \(field.name): user field \(field.crm) does not exist on deals"))
                continue
            }
            if field.transform == .boolean, let type = known.userFieldTypes[field.crm], type != "boolean" {
                problems.append(
                    AccountProblem(
                        field.location, "field \(field.name): user field \(field.crm) is a \(type) field, not a yes/no (boolean) one"))
            }
            if case .enumeration(let values) = field.transform {
                guard let items else {
                    problems.append(AccountProblem(field.location, "field \(field.name): user field \(field.crm) is not a list"))
                    continue
                }
                for (canonical, item) in values.sorted(by: { $0.key < $1.key }) where !items.contains(item) {
                    problems.append(
                        AccountProblem(
                            field.location,
                            "field \(field.name): \(canonical) → \(item) is not an item of \(field.crm) (it has \(items.sorted().joined(separator: ", ")))"
                        ))
                }
            }
        }
        if mapping.linkField.hasPrefix("UF_"), !mapping.fields.contains(where: { $0.crm == mapping.linkField }) {
            fieldCount += 1
            if known.userFields[mapping.linkField] == nil {
                problems.append(
                    AccountProblem(
                        mapping.location(of: "link_field"), "link_field: user field \(mapping.linkField) does not exist on deals"))
            }
        }
        for owner in mapping.owners.entries where known.users[owner.crm] == nil {
            problems.append(
                AccountProblem(owner.location, "owner \(owner.master): Bitrix24 user \(owner.crm) does not exist on the portal"))
        }
        return AccountReport(
            checked: "funnel \(mapping.pipeline): \(stageCount) stages, \(fieldCount) user fields, \(mapping.owners.entries.count) owners",
            problems: problems)
    }
}
