import DealSyncCore

/// Builds amoCRM's legacy (API v2) webhook form: `leads[<action>][<i>][<field>]` plus `account[...]`.
///
/// Field order inside a lead, the order of actions and where `account` goes vary between deliveries, as
/// they do at amoCRM; the variation comes from the given generator, so a seed replays it.
enum AmoWebhookForm {
    typealias Pairs = [(String, String)]

    /// The actions a change fires, with the subscription setting each needs.
    static func actions(for change: AmoLeadChange) -> [(action: String, setting: String, old: AmoLead?)] {
        switch change {
        case .added: return [("add", "add_lead", nil)]
        case .deleted: return [("delete", "delete_lead", nil)]
        case .restored: return [("restore", "restore_lead", nil)]
        case .updated(let before, let after):
            var list: [(String, String, AmoLead?)] = [("update", "update_lead", before)]
            if before.statusID != after.statusID || before.pipelineID != after.pipelineID {
                list.append(("status", "status_lead", before))
            }
            if before.responsibleUserID != after.responsibleUserID { list.append(("responsible", "responsible_lead", before)) }
            return list
        }
    }

    /// The body for one subscription, or `nil` when none of its settings matches.
    static func body(
        for changes: [AmoLeadChange], settings: Set<String>, catalog: AmoCatalog,
        random: inout SplitMix64
    ) -> String? {
        var sections: [(action: String, entries: [[Pairs]])] = []
        for change in changes {
            for (action, setting, old) in actions(for: change) where settings.contains(setting) {
                let groups = fieldGroups(action: action, lead: change.lead, old: old, catalog: catalog)
                if let index = sections.firstIndex(where: { $0.action == action }) {
                    sections[index].entries.append(groups)
                } else {
                    sections.append((action, [groups]))
                }
            }
        }
        guard !sections.isEmpty else { return nil }
        var blocks: [Pairs] = sections.shuffled(using: &random).map { section in
            section.entries.enumerated().flatMap { index, groups in
                groups.shuffled(using: &random).flatMap { group in
                    group.map { ("leads[\(section.action)][\(index)]\($0.0)", $0.1) }
                }
            }
        }
        blocks.insert(accountPairs(catalog, withLinks: true), at: Int(random.next() % UInt64(blocks.count + 1)))
        return QueryForm.build(blocks.flatMap { $0 })
    }

    /// The short Digital Pipeline form: ids only, no lead data.
    static func automationBody(
        lead: AmoLead, oldStatusID: Int, oldPipelineID: Int, catalog: AmoCatalog,
        random: inout SplitMix64
    ) -> String {
        let fields: Pairs = [
            ("id", String(lead.id)), ("status_id", String(lead.statusID)), ("pipeline_id", String(lead.pipelineID)),
            ("old_status_id", String(oldStatusID)), ("old_pipeline_id", String(oldPipelineID)),
        ]
        let leadPairs = fields.shuffled(using: &random).map { ("leads[status][0][\($0.0)]", $0.1) }
        let account = accountPairs(catalog, withLinks: false)
        return QueryForm.build(random.next() % 2 == 0 ? leadPairs + account : account + leadPairs)
    }

    private static func accountPairs(_ catalog: AmoCatalog, withLinks: Bool) -> Pairs {
        var pairs: Pairs = [("account[subdomain]", catalog.subdomain), ("account[id]", String(catalog.accountID))]
        if withLinks { pairs.append(("account[_links][self]", catalog.accountURL)) }
        return pairs
    }

    /// One lead's fields as groups of bracket-suffix pairs; a group stays together when shuffled.
    static func fieldGroups(action: String, lead: AmoLead, old: AmoLead?, catalog: AmoCatalog) -> [Pairs] {
        if action == "delete" {
            return [[("[id]", String(lead.id))], [("[status_id]", String(lead.statusID))], [("[pipeline_id]", String(lead.pipelineID))]]
        }
        var groups: [Pairs] = [
            [("[id]", String(lead.id))], [("[name]", lead.name)], [("[status_id]", String(lead.statusID))],
            [("[price]", String(lead.price))], [("[responsible_user_id]", String(lead.responsibleUserID))],
            [("[last_modified]", String(lead.updatedAt))], [("[modified_user_id]", String(lead.updatedBy))],
            [("[created_user_id]", String(lead.createdBy))], [("[date_create]", String(lead.createdAt))],
            [("[pipeline_id]", String(lead.pipelineID))], [("[account_id]", String(catalog.accountID))],
            [("[created_at]", String(lead.createdAt))], [("[updated_at]", String(lead.updatedAt))],
        ]
        if let old {
            if action == "status" {
                groups.append([("[old_status_id]", String(old.statusID))])
                if old.pipelineID != lead.pipelineID { groups.append([("[old_pipeline_id]", String(old.pipelineID))]) }
            }
            if action == "responsible" { groups.append([("[old_responsible_user_id]", String(old.responsibleUserID))]) }
        }
        if !lead.customFields.isEmpty { groups.append(customFields(lead, catalog: catalog)) }
        if !lead.tags.isEmpty { groups.append(tags(lead)) }
        return groups
    }

    /// `[tags][i][id]` and `[tags][i][name]`: a nested list inside the lead block, like custom fields but no field.
    private static func tags(_ lead: AmoLead) -> Pairs {
        lead.tags.enumerated().flatMap { index, tag in
            [("[tags][\(index)][id]", String(tag.id)), ("[tags][\(index)][name]", tag.name)]
        }
    }

    /// `[custom_fields][i][id|name]`, `[values][j][value]` (`[enum]` for choices), and a bare
    /// `[values][j]=<unix>` for date fields.
    private static func customFields(_ lead: AmoLead, catalog: AmoCatalog) -> Pairs {
        var pairs: Pairs = []
        for (index, filled) in lead.customFields.enumerated() {
            guard let field = catalog.field(filled.fieldID) else { continue }
            let prefix = "[custom_fields][\(index)]"
            pairs.append(("\(prefix)[id]", String(field.id)))
            pairs.append(("\(prefix)[name]", field.name))
            for (valueIndex, item) in filled.values.enumerated() {
                if field.type.isDate {
                    pairs.append(("\(prefix)[values][\(valueIndex)]", item.value))
                } else {
                    pairs.append(("\(prefix)[values][\(valueIndex)][value]", item.value))
                    if let enumID = item.enumID { pairs.append(("\(prefix)[values][\(valueIndex)][enum]", String(enumID))) }
                }
            }
        }
        return pairs
    }
}
