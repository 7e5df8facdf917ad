import DealSyncCore
import DealSyncSimulators
import DealSyncTestSupport
import Foundation
import Testing

/// `dealsync validate --live` against the amoCRM and Bitrix24 simulators: a mapping that fits the accounts
/// passes; every stage, field, list value and owner an account lacks is reported at its place in the YAML;
/// nothing is written to the CRMs.
@Suite(.serialized)
struct ValidateLiveTests {
    static let amoToken = "long-lived-token-for-validate"

    static func tourMapping(
        status: String = "{status: 7001002, name: Квалификация}", enumValue: String = "502",
        extraField: String = "", owner: String = "6001002"
    ) -> String {
        """
        name: tour
        crm: amocrm
        pipeline: 7001000
        link_field: custom_fields.900001
        fields:
          title: {master: opportunity_name, crm: name, conflict: lww}
          stage: {master: stage, crm: status, transform: stage, conflict: {priority: master}}
          owner: {master: owner_id, crm: responsible_user_id, transform: owner, conflict: lww}
          tour_type:
            master: attributes.tour_type
            crm: custom_fields.900004
            transform: {enum: {beach: "501", ski: "\(enumValue)"}}
        \(extraField)
        stages:
          lead: [{status: 7001001, name: Новый лид}]
          qualified: [\(status)]
          won: [142]
          lost: [143]
        owners:
          - {master: u-olga, crm: 6001001}
          - {master: u-ivan, crm: \(owner)}
        """
    }

    static func fitnessMapping(
        stage: String = "C2:PREPARATION", item: String = "42", extraField: String = "",
        owner: String = "15"
    ) -> String {
        """
        name: fitness
        crm: bitrix24
        pipeline: 2
        link_field: ORIGIN_ID
        originator: dealsync
        fields:
          title: {master: opportunity_name, crm: TITLE, conflict: lww}
          stage: {master: stage, crm: STAGE_ID, transform: stage, conflict: {priority: master}}
          owner: {master: owner_id, crm: ASSIGNED_BY_ID, transform: owner, conflict: lww}
          program:
            master: attributes.program
            crm: UF_CRM_PROGRAM
            transform: {enum: {personal: "41", group: "\(item)"}}
        \(extraField)
        stages:
          lead: ["C2:NEW"]
          qualified: ["\(stage)"]
          won: ["C2:WON"]
          lost: ["C2:LOSE"]
        owners:
          - {master: u-maria, crm: 12}
          - {master: u-igor, crm: \(owner)}
        """
    }

    static func connectors(amo: String, bitrix: String, amoAuth: String? = nil) -> [String: String] {
        [
            "connectors/masterdeal.yaml": """
            id: masterdeal
            kind: masterdeal
            base_url: http://127.0.0.1:9
            auth: {bearer_token: md-token}
            webhook: {secret: md-event-secret}
            """,
            "connectors/tour.yaml": """
            id: tour
            kind: amocrm
            base_url: \(amo)
            mapping: tour
            master_account: acc-tour
            auth: \(amoAuth ?? "{bearer_token: \(amoToken)}")
            webhook: {secret: tour-webhook-secret-123456}
            """,
            "connectors/fitness.yaml": """
            id: fitness
            kind: bitrix24
            base_url: \(bitrix)
            mapping: fitness
            master_account: acc-fitness
            auth:
              webhook: {user_id: 1, code: x7k2m9q4w1e8r5t3}
            webhook: {application_token: q8m3v1x7c2n9b5z4k6j0h2g8f1d7s3a5, domain: fitcoach.bitrix24.ru}
            """,
        ]
    }

    /// Runs `dealsync validate --live` over the given files against simulators shaped like the good mappings.
    static func validate(
        tour: String = tourMapping(), fitness: String = fitnessMapping(), amoAuth: String? = nil,
        accountShape: String = tourMapping(),
        _ check:
            @Sendable (
                _ status: Int32, _ stdout: String, _ stderr: String, _ amo: AmoCRMSimulator,
                _ bitrix: Bitrix24Simulator
            ) throws -> Void
    ) async throws {
        let shape = try ConfigurationLoader(environment: [:])
            .load(connectors: [], mappings: [.init(path: "m.yaml", text: accountShape)]).mappings["tour"]!
        var amoConfiguration = AmoCRMSimulator.Configuration(matching: shape)
        amoConfiguration.longLivedTokens = [amoToken]
        let amo = AmoCRMSimulator(configuration: amoConfiguration)
        var bitrixConfiguration = Bitrix24Simulator.Configuration()
        bitrixConfiguration.seedDeals = []
        let bitrix = Bitrix24Simulator(configuration: bitrixConfiguration)
        try await amo.withRunning { amoURL in
            try await bitrix.withRunning { bitrixURL in
                let directory = NSTemporaryDirectory() + "dealsync-live-\(UUID().uuidString)"
                defer { try? FileManager.default.removeItem(atPath: directory) }
                var files = connectors(amo: amoURL, bitrix: bitrixURL, amoAuth: amoAuth)
                files["mappings/tour.yaml"] = tour
                files["mappings/fitness.yaml"] = fitness
                try writeFiles(files.map { ($0.key, $0.value) }, into: directory)
                let result = try await ChildProgram.run(
                    try Repository.dealsyncBinary(), ["validate", directory, "--live"],
                    environment: ["DATABASE_URL": ""])
                try check(result.status, result.stdout, result.stderr.replacingOccurrences(of: directory + "/", with: ""), amo, bitrix)
            }
        }
    }

    @Test func mappingsThatFitTheAccountsPass() async throws {
        try await Self.validate { status, stdout, stderr, amo, _ in
            #expect(status == 0, "\(stdout)\(stderr)")
            #expect(stdout.contains("live: tour: pipeline 7001000: 4 stages, 2 custom fields, 2 owners: ok"), "\(stdout)")
            #expect(stdout.contains("live: fitness: funnel 2: 4 stages, 1 user fields, 2 owners: ok"), "\(stdout)")
            #expect(amo.stats.requestsByRoute.keys.allSatisfy { $0.hasPrefix("GET ") }, "reads only: \(amo.stats.requestsByRoute)")
        }
    }

    @Test func everyStageFieldValueAndOwnerAnAccountLacksIsReportedAtItsPlace() async throws {
        try await Self.validate(
            tour: Self.tourMapping(
                status: "{status: 7001099, name: Нет такого}", enumValue: "599",
                extraField: "  hotel: {master: attributes.hotel, crm: custom_fields.900099}", owner: "6009999"),
            fitness: Self.fitnessMapping(
                stage: "C2:NOPE", item: "49",
                extraField: "  visits: {master: attributes.visits, crm: UF_CRM_VISITS}", owner: "99")
        ) { status, stdout, stderr, amo, bitrix in
            #expect(status == 1, "\(stdout)\(stderr)")
            let lines = stderr.split(separator: "\n").map(String.init)
            let expected = [
                ("mappings/tour.yaml:", "status 7001099 is not in pipeline 7001000"),
                ("mappings/tour.yaml:", "ski → 599 is not a value of custom field 900004"),
                ("mappings/tour.yaml:", "custom field 900099 does not exist on leads"),
                ("mappings/tour.yaml:", "amoCRM user 6009999 does not exist"),
                ("mappings/fitness.yaml:", "stage C2:NOPE (qualified) is not a stage of funnel 2"),
                ("mappings/fitness.yaml:", "group → 49 is not an item of UF_CRM_PROGRAM"),
                ("mappings/fitness.yaml:", "user field UF_CRM_VISITS does not exist on deals"),
                ("mappings/fitness.yaml:", "Bitrix24 user 99 does not exist"),
            ]
            for (file, message) in expected {
                let line = lines.first { $0.contains(message) }
                #expect(line != nil, "missing \(message) in\n\(stderr)")
                if let line {
                    // file:line:column: message
                    let parts = line.split(separator: ":", maxSplits: 3)
                    #expect(line.hasPrefix(file) && parts.count == 4 && Int(parts[1]) != nil && Int(parts[2]) != nil, "\(line)")
                }
            }
            #expect(stderr.contains("8 problem(s) found in the live accounts"), "\(stderr)")
            #expect(amo.stats.requestsByRoute.keys.allSatisfy { $0.hasPrefix("GET ") }, "reads only: \(amo.stats.requestsByRoute)")
            #expect(bitrix.allDeals().isEmpty, "nothing written to Bitrix24")
        }
    }

    /// A yes/no field must be an amoCRM checkbox or a Bitrix24 boolean user field.
    @Test func aYesNoFieldOnAFieldOfAnotherTypeIsReported() async throws {
        try await Self.validate(
            tour: Self.tourMapping(extraField: "  insured: {master: attributes.insured, crm: custom_fields.900005, transform: boolean}"),
            fitness: Self.fitnessMapping(extraField: "  sessions: {master: attributes.sessions, crm: UF_CRM_SESSIONS, transform: boolean}"),
            accountShape: Self.tourMapping(extraField: "  insured: {master: attributes.insured, crm: custom_fields.900005}")
        ) { status, stdout, stderr, _, _ in
            #expect(status == 1, "\(stdout)\(stderr)")
            #expect(
                stderr.contains("mappings/tour.yaml:")
                    && stderr.contains("field insured: custom field 900005 is a text field, not a checkbox"), "\(stderr)")
            #expect(
                stderr.contains("mappings/fitness.yaml:")
                    && stderr.contains("field sessions: user field UF_CRM_SESSIONS is a double field, not a yes/no (boolean) one"),
                "\(stderr)")
            #expect(stderr.contains("2 problem(s) found in the live accounts"), "\(stderr)")
        }
        // The same fields as a checkbox and a boolean user field are fine.
        try await Self.validate(
            tour: Self.tourMapping(extraField: "  insured: {master: attributes.insured, crm: custom_fields.900005, transform: boolean}"),
            accountShape: Self.tourMapping(
                extraField: "  insured: {master: attributes.insured, crm: custom_fields.900005, transform: boolean}")
        ) { status, stdout, stderr, _, _ in
            #expect(status == 0, "\(stdout)\(stderr)")
        }
    }

    @Test func aConnectorWithSingleUseOAuthTokensNeedsTheDatabaseAndIsNotCalledWithout() async throws {
        let oauth = """
            {oauth: {client_id: 5f1c9a52-7d3e-4b8a-9c61-2e0d4f7b8a19, client_secret: sim-client-secret-0f4e8d2c7b6a, \
            redirect_uri: "https://dealsync.example/oauth/amocrm", refresh_token: def50200-sim-initial-refresh-token}}
            """
        try await Self.validate(amoAuth: oauth) { status, stdout, stderr, amo, _ in
            #expect(status == 1)
            #expect(stderr.contains("connectors/tour.yaml:") && stderr.contains("tour: --live needs --database-url"), "\(stderr)")
            #expect(amo.stats.requestsTotal == 0, "the single-use refresh token was not spent")
            #expect(stdout.contains("live: fitness:") && stdout.contains(": ok"), "the other connectors are still checked: \(stdout)")
        }
    }
}
