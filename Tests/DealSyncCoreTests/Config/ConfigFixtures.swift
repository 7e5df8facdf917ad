import DealSyncCore

/// Small valid configuration files, written line by line so tests can point at exact positions.
enum ConfigFixtures {
    static let environment = [
        "MD_TOKEN": "md-token", "MD_SECRET": "md-secret", "AMO_SECRET": "amo-webhook-secret-0001", "AMO_TOKEN": "amo-token",
    ]

    static let masterDeal = """
        id: masterdeal
        kind: masterdeal
        base_url: http://127.0.0.1:9001
        auth:
          bearer_token: ${MD_TOKEN}
        webhook:
          secret: ${MD_SECRET}
        """

    static let amo = """
        id: tour
        kind: amocrm
        base_url: https://tour.amocrm.ru
        mapping: tour
        master_account: acc-tour
        auth:
          bearer_token: ${AMO_TOKEN}
        webhook:
          secret: ${AMO_SECRET}
        poll:
          interval: 30s
        rate_limit:
          requests_per_second: 7
        """

    static let tourMapping = """
        name: tour
        crm: amocrm
        pipeline: 100
        link_field: custom_fields.900001
        fields:
          title:
            master: opportunity_name
            crm: name
          stage:
            master: stage
            crm: status
            transform: stage
            conflict: {priority: master}
          owner:
            master: owner_id
            crm: responsible_user_id
            transform: owner
        stages:
          lead:
            - {status: 101, name: Новый лид}
          qualified:
            - {status: 102, name: Квалификация}
            - {status: 103, name: Прогрев}
          won:
            - 142
        owners:
          - {master: u-olga, crm: 501, email: olga@example.com}
        """

    static func load(
        connectors: [(String, String)] = [("connectors/masterdeal.yaml", masterDeal), ("connectors/tour.yaml", amo)],
        mappings: [(String, String)] = [("mappings/tour.yaml", tourMapping)],
        environment: [String: String] = environment
    ) -> Result<Configuration, ConfigurationError> {
        Result { () throws(ConfigurationError) in
            try ConfigurationLoader(environment: environment).load(
                connectors: connectors.map { .init(path: $0.0, text: $0.1) },
                mappings: mappings.map { .init(path: $0.0, text: $0.1) })
        }
    }

    static func diagnostics(
        connectors: [(String, String)] = [("connectors/masterdeal.yaml", masterDeal), ("connectors/tour.yaml", amo)],
        mappings: [(String, String)] = [("mappings/tour.yaml", tourMapping)],
        environment: [String: String] = environment
    ) -> [String] {
        switch load(connectors: connectors, mappings: mappings, environment: environment) {
        case .success: []
        case .failure(let error): error.diagnostics.map(\.description)
        }
    }

    /// Replaces one line (1-based) of a fixture.
    static func replacing(line: Int, with text: String, in fixture: String) -> String {
        var lines = fixture.components(separatedBy: "\n")
        lines[line - 1] = text
        return lines.joined(separator: "\n")
    }
}

extension String {
    fileprivate func components(separatedBy separator: String) -> [String] {
        split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }
}
