extension MappingReader {
    /// `matching: {keys: [{fields: [phone], normalise: phone}, {fields: [title, owner]}], no_match: create}`:
    /// each key names fields of this mapping; `normalise` is `text` (the default), `phone`, `email` or `exact`.
    func readMatching(_ doc: YAMLMappingReader, fields: [FieldMapping]?) -> MatchingRules? {
        guard let matching = doc.mapping("matching", required: false) else { return MatchingRules() }
        defer { matching.finish() }
        var rules = MatchingRules()
        var valid = true
        if let node = matching.node("no_match"), !node.isNull {
            if let choice = YAMLScalar.choice(node, MatchingRules.NoMatch.self, path: "matching.no_match", sink: sink) {
                rules.noMatch = choice
            } else {
                valid = false
            }
        }
        let known = Set(fields?.map(\.name) ?? [])
        for (index, item) in (matching.sequence("keys", required: false) ?? []).enumerated() {
            let path = "matching.keys[\(index)]"
            guard let key = YAMLMappingReader(item, path: path, sink: sink) else {
                valid = false
                continue
            }
            defer { key.finish() }
            var normalise = MatchingRules.Normalisation.text
            if let node = key.node("normalise"), !node.isNull {
                if let choice = YAMLScalar.choice(node, MatchingRules.Normalisation.self, path: "\(path).normalise", sink: sink) {
                    normalise = choice
                } else {
                    valid = false
                }
            }
            guard let names = key.sequence("fields") else {
                valid = false
                continue
            }
            if names.isEmpty, let node = key.node("fields") {
                sink.report(node.location, "\(path).fields: name at least one field of this mapping")
                valid = false
                continue
            }
            var fieldNames: [String] = []
            for name in names {
                guard let text = YAMLScalar.string(name, path: "\(path).fields", sink: sink) else {
                    valid = false
                    continue
                }
                if fields != nil, !known.contains(text) {
                    let hint = YAMLMappingReader.closest(to: text, in: known).map { " (did you mean '\($0)'?)" } ?? ""
                    sink.report(name.location, "\(path).fields: '\(text)' is not a field of this mapping\(hint)")
                    valid = false
                }
                fieldNames.append(text)
            }
            rules.keys.append(MatchingRules.Key(fields: fieldNames, normalise: normalise))
        }
        return valid ? rules : nil
    }
}
