extension Configuration {
    /// What a valid configuration holds, naming everything it counts:
    /// `3 connectors (fitness-bitrix24: bitrix24, masterdeal: masterdeal, tour-amocrm: amocrm), 2 mappings (…)`.
    public var summary: String {
        let connectorList = connectors.map { "\($0.id): \($0.kind.rawValue)" }.joined(separator: ", ")
        let mappingList = mappings.keys.sorted().joined(separator: ", ")
        return "\(Self.count(connectors.count, "connector")) (\(connectorList.isEmpty ? "none" : connectorList)), "
            + "\(Self.count(mappings.count, "mapping")) (\(mappingList.isEmpty ? "none" : mappingList))"
    }

    /// Where each connector's first poll starts, one line per connector: `tour-amocrm: a first poll reads …`.
    /// A connector that already has a cursor keeps it; these lines say what a connector never polled will do.
    public var pollStarts: [String] {
        connectors.map { connector in
            guard connector.poll.enabled else { return "\(connector.id): polling is off (poll.enabled: false)" }
            return "\(connector.id): a first poll reads \(connector.poll.start)"
        }
    }

    /// One line per mapping that limits its records (`scope:`): `tour-agency: only records in stages lead, qualified …`.
    public var scopes: [String] {
        mappings.keys.sorted().compactMap { name in
            guard let scope = mappings[name]?.scope, scope != SyncScope() else { return nil }
            var parts: [String] = []
            if let stages = scope.stages { parts.append("in stages \(stages.sorted().joined(separator: ", "))") }
            if let since = scope.updatedSinceMillis { parts.append("changed since \(Timestamp.iso8601(millis: since))") }
            return "\(name): creates only records \(parts.joined(separator: " and ")) (scope)"
        }
    }

    private static func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
}
