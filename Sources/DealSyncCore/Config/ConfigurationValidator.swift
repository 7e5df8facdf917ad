/// Checks that hold across files: references, stage matrices, owner directories.
struct ConfigurationValidator {
    let sink: DiagnosticSink

    func check(_ configuration: Configuration, connectorFiles: [String]) {
        let masters = configuration.connectors.filter { $0.kind == .masterdeal }
        if masters.count > 1 {
            for extra in masters.dropFirst() {
                sink.report(extra.location(of: "kind"), "only one masterdeal connector is allowed (first in \(masters[0].file))")
            }
        }
        if masters.isEmpty, !configuration.connectors.isEmpty {
            let first = configuration.connectors[0]
            sink.report(
                SourceLocation(file: first.file, line: 1, column: 1),
                "no masterdeal connector: add one connector with kind: masterdeal")
        }
        for connector in configuration.crmConnectors {
            guard let name = connector.mapping else { continue }
            guard let mapping = configuration.mappings[name] else {
                let known = configuration.mappings.keys.sorted()
                let hint = known.isEmpty ? "no mappings are defined" : "defined: \(known.joined(separator: ", "))"
                sink.report(connector.location(of: "mapping"), "mapping '\(name)' does not exist (\(hint))")
                continue
            }
            if mapping.crm != connector.kind {
                sink.report(
                    connector.location(of: "mapping"),
                    "mapping '\(name)' is for \(mapping.crm.rawValue), but this connector is \(connector.kind.rawValue)")
            }
        }
        for mapping in configuration.mappings.values.sorted(by: { $0.file < $1.file }) {
            check(mapping)
        }
    }

    private func check(_ mapping: Mapping) {
        // No CRM stage may stand for two canonical stages.
        var owners: [String: String] = [:]
        for entry in mapping.stages.entries {
            for stage in entry.crm {
                if let other = owners[stage.key], other != entry.canonical {
                    sink.report(stage.location, "CRM stage \(stage.key) already maps to canonical stage '\(other)'")
                } else if owners[stage.key] == entry.canonical {
                    sink.report(stage.location, "CRM stage \(stage.key) is listed twice under '\(entry.canonical)'")
                }
                owners[stage.key] = entry.canonical
            }
        }
        if let stageField = mapping.fields.first(where: { $0.transform == .stage }) {
            if stageField.direction.accepts(changeFrom: .master) || mapping.create.inCRM {
                for entry in mapping.stages.entries where entry.crm.isEmpty {
                    sink.report(
                        entry.location,
                        "canonical stage '\(entry.canonical)' has no CRM stage to write (field '\(stageField.name)' flows master → crm)")
                }
            }
        }
        if case .propagate(let stage) = mapping.deletes, !mapping.stages.canonicalStages.contains(stage) {
            sink.report(mapping.location(of: "on_delete"), "on_delete.master_stage: '\(stage)' is not a canonical stage of this mapping")
        }
        // Owner directory: one entry per owner and per CRM user.
        var byMaster: [String: SourceLocation] = [:]
        var byCRM: [String: SourceLocation] = [:]
        for entry in mapping.owners.entries {
            if let first = byMaster[entry.master] {
                sink.report(entry.location, "owner '\(entry.master)' is listed twice (first at line \(first.line))")
            }
            if let first = byCRM[entry.crm] {
                sink.report(entry.location, "CRM user \(entry.crm) is listed twice (first at line \(first.line))")
            }
            byMaster[entry.master] = byMaster[entry.master] ?? entry.location
            byCRM[entry.crm] = byCRM[entry.crm] ?? entry.location
        }
        if let ownerField = mapping.fields.first(where: { $0.transform == .owner }), mapping.owners.entries.isEmpty {
            sink.report(ownerField.location, "field '\(ownerField.name)' maps owners, but the mapping has no owners directory")
        }
        // Each field of either side is mapped once.
        var masterSeen: [String: String] = [:]
        var crmSeen: [String: String] = [:]
        for field in mapping.fields {
            if let other = masterSeen[field.master] {
                sink.report(field.location, "MasterDeal field '\(field.master)' is already mapped by '\(other)'")
            }
            if let other = crmSeen[field.crm] {
                sink.report(field.location, "CRM field '\(field.crm)' is already mapped by '\(other)'")
            }
            masterSeen[field.master] = field.name
            crmSeen[field.crm] = field.name
        }
    }
}
