import DealSyncCore
import Foundation
import Testing

struct ConfigurationLoaderTests {
    @Test func validFixturesLoadIntoTypedModels() throws {
        let configuration = try ConfigFixtures.load().get()
        #expect(configuration.connectors.map(\.id) == ["masterdeal", "tour"])
        let tour = try #require(configuration.connector("tour"))
        #expect(tour.kind == .amocrm)
        #expect(tour.poll.interval == .seconds(30))
        #expect(tour.rateLimit.requestsPerSecond == 7)
        guard case .pathSecret(let secret) = tour.webhook else {
            Issue.record("amoCRM webhook auth should be a path secret")
            return
        }
        #expect(secret.reveal() == "amo-webhook-secret-0001")
        let mapping = try #require(configuration.mapping(for: tour))
        #expect(mapping.fields.map(\.name) == ["title", "stage", "owner"])
        #expect(mapping.field(named: "stage")?.conflict == .priority(.master))
        #expect(mapping.field(named: "title")?.conflict == .lww)
        #expect(mapping.stages.canonicalStage(for: "100:103") == "qualified")
        #expect(mapping.stages.crmStage(for: "qualified") == "100:102")
        #expect(mapping.stages.crmStage(for: "won") == "100:142")
        #expect(mapping.owners.crmUser(forOwner: "u-olga") == "501")
    }

    @Test func syntaxErrorPointsAtTheProblem() {
        let broken = ConfigFixtures.replacing(line: 3, with: "base_url: [https://tour.amocrm.ru", in: ConfigFixtures.amo)
        let errors = ConfigFixtures.diagnostics(connectors: [
            ("connectors/masterdeal.yaml", ConfigFixtures.masterDeal), ("connectors/tour.yaml", broken),
        ])
        #expect(
            errors == [
                "connectors/tour.yaml:4:8: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence started at line 3, column 11)"
            ])
    }

    @Test func wrongTypeNamesKeyAndPosition() {
        let broken = ConfigFixtures.replacing(line: 13, with: "  requests_per_second: seven", in: ConfigFixtures.amo)
        let errors = ConfigFixtures.diagnostics(connectors: [
            ("connectors/masterdeal.yaml", ConfigFixtures.masterDeal), ("connectors/tour.yaml", broken),
        ])
        #expect(errors == ["connectors/tour.yaml:13:24: rate_limit.requests_per_second: expected a number, found \"seven\""])
    }

    @Test func unknownKeyIsAnErrorWithASuggestion() {
        let broken = ConfigFixtures.replacing(line: 10, with: "pol:", in: ConfigFixtures.amo)
        let errors = ConfigFixtures.diagnostics(connectors: [
            ("connectors/masterdeal.yaml", ConfigFixtures.masterDeal), ("connectors/tour.yaml", broken),
        ])
        #expect(errors == ["connectors/tour.yaml:10:1: unknown key 'pol' (did you mean 'poll'?)"])
    }

    @Test func unknownNestedKeyInAMapping() {
        let broken = ConfigFixtures.replacing(line: 8, with: "    crm: name\n    diretion: both", in: ConfigFixtures.tourMapping)
        let errors = ConfigFixtures.diagnostics(mappings: [("mappings/tour.yaml", broken)])
        #expect(errors == ["mappings/tour.yaml:9:5: unknown key 'diretion' in fields.title (did you mean 'direction'?)"])
    }

    @Test func aYesNoFieldLoadsAndAMisspeltTransformListsTheChoices() throws {
        let field = "\n  insured: {master: attributes.insured, crm: custom_fields.900007, transform: %@}\nstages:"
        let good = ConfigFixtures.tourMapping.replacingOccurrences(
            of: "\nstages:", with: field.replacingOccurrences(of: "%@", with: "boolean"))
        let loaded = try ConfigurationLoader(environment: [:]).load(
            connectors: [], mappings: [.init(path: "mappings/tour.yaml", text: good)])
        #expect(loaded.mappings["tour"]?.field(named: "insured")?.transform == .boolean)

        let broken = ConfigFixtures.tourMapping.replacingOccurrences(
            of: "\nstages:", with: field.replacingOccurrences(of: "%@", with: "bool"))
        let errors = ConfigFixtures.diagnostics(mappings: [("mappings/tour.yaml", broken)])
        #expect(errors.count == 1 && errors[0].hasPrefix("mappings/tour.yaml:18:"), "\(errors)")
        #expect(errors.first?.contains("boolean") == true && errors.first?.contains("\"bool\"") == true, "\(errors)")
    }

    @Test func missingKeyIsReportedAtItsMapping() {
        let broken = ConfigFixtures.replacing(line: 2, with: "", in: ConfigFixtures.tourMapping)
        let errors = ConfigFixtures.diagnostics(mappings: [("mappings/tour.yaml", broken)])
        #expect(errors.contains("mappings/tour.yaml:1:1: document: missing required key 'crm'"), "\(errors)")
    }

    @Test func missingEnvironmentVariableNamesItAndNeverTheOthers() {
        var environment = ConfigFixtures.environment
        environment["AMO_SECRET"] = nil
        let errors = ConfigFixtures.diagnostics(environment: environment)
        #expect(errors == ["connectors/tour.yaml:9:11: environment variable AMO_SECRET is not set"])
        #expect(!errors.joined().contains("amo-token"))
    }

    @Test func defaultsFillMissingVariables() throws {
        let withDefault = ConfigFixtures.replacing(
            line: 3, with: "base_url: ${AMO_URL:-https://fallback.amocrm.ru}", in: ConfigFixtures.amo)
        let configuration = try ConfigFixtures.load(connectors: [("c/m.yaml", ConfigFixtures.masterDeal), ("c/t.yaml", withDefault)]).get()
        #expect(configuration.connector("tour")?.baseURL == "https://fallback.amocrm.ru")
    }

    @Test func substitutedSecretsAreNeverPrintedInTypeErrors() {
        let broken = ConfigFixtures.replacing(line: 13, with: "  requests_per_second: ${AMO_TOKEN}", in: ConfigFixtures.amo)
        let errors = ConfigFixtures.diagnostics(connectors: [
            ("connectors/masterdeal.yaml", ConfigFixtures.masterDeal), ("connectors/tour.yaml", broken),
        ])
        #expect(
            errors == ["connectors/tour.yaml:13:24: rate_limit.requests_per_second: expected a number, found a value from the environment"])
    }

    @Test func incompleteStageMatrixIsReportedPerStage() {
        let broken = ConfigFixtures.replacing(line: 24, with: "  won: []", in: ConfigFixtures.tourMapping)
            .replacingOccurrences(of: "    - 142\n", with: "")
        let errors = ConfigFixtures.diagnostics(mappings: [("mappings/tour.yaml", broken)])
        #expect(errors == ["mappings/tour.yaml:24:3: canonical stage 'won' has no CRM stage to write (field 'stage' flows master → crm)"])
    }

    @Test func aCRMStageCannotStandForTwoCanonicalStages() {
        let broken = ConfigFixtures.replacing(line: 20, with: "    - 103", in: ConfigFixtures.tourMapping)
        let errors = ConfigFixtures.diagnostics(mappings: [("mappings/tour.yaml", broken)])
        #expect(errors == ["mappings/tour.yaml:23:7: CRM stage 100:103 already maps to canonical stage 'lead'"])
    }

    @Test func duplicateConnectorIDsAcrossFiles() {
        let errors = ConfigFixtures.diagnostics(connectors: [
            ("connectors/masterdeal.yaml", ConfigFixtures.masterDeal),
            ("connectors/tour.yaml", ConfigFixtures.amo),
            ("connectors/tour-copy.yaml", ConfigFixtures.amo),
        ])
        #expect(errors == ["connectors/tour-copy.yaml:1:1: connector id 'tour' is already used in connectors/tour.yaml"])
    }

    @Test func connectorMustNameAnExistingMappingOfItsKind() {
        let broken = ConfigFixtures.replacing(line: 4, with: "mapping: tours", in: ConfigFixtures.amo)
        let errors = ConfigFixtures.diagnostics(connectors: [
            ("connectors/masterdeal.yaml", ConfigFixtures.masterDeal), ("connectors/tour.yaml", broken),
        ])
        #expect(errors == ["connectors/tour.yaml:4:1: mapping 'tours' does not exist (defined: tour)"])
    }

    @Test func directionAndConflictRuleMustAgree() {
        let broken = ConfigFixtures.replacing(
            line: 8, with: "    crm: name\n    direction: master_to_crm\n    conflict: {priority: crm}", in: ConfigFixtures.tourMapping)
        let errors = ConfigFixtures.diagnostics(mappings: [("mappings/tour.yaml", broken)])
        #expect(
            errors == [
                "mappings/tour.yaml:10:15: fields.title.conflict: a master_to_crm field can only be resolved by priority: master (found priority:crm)"
            ])
    }

    @Test func connectorIDsMustBeURLSafe() {
        let broken = ConfigFixtures.replacing(line: 1, with: "id: Tour Agency", in: ConfigFixtures.amo)
        let errors = ConfigFixtures.diagnostics(connectors: [
            ("connectors/masterdeal.yaml", ConfigFixtures.masterDeal), ("connectors/tour.yaml", broken),
        ])
        #expect(
            errors.contains(
                "connectors/tour.yaml:1:5: id: 'Tour Agency' is not URL-safe (use lowercase letters, digits, '-' and '_', at most 63)"),
            "\(errors)")
    }

    @Test func ownerEntriesMustBeWellFormed() {
        let broken = ConfigFixtures.replacing(
            line: 27, with: "  - {master: u-olga, crm: abc, email: not-an-email}\n  - {master: u-olga, crm: 502}",
            in: ConfigFixtures.tourMapping)
        let errors = ConfigFixtures.diagnostics(mappings: [("mappings/tour.yaml", broken)])
        #expect(errors.contains("mappings/tour.yaml:27:27: owners[0].crm: expected an integer, found \"abc\""), "\(errors)")
        #expect(errors.contains("mappings/tour.yaml:27:39: owners[0].email: 'not-an-email' is not an e-mail address"), "\(errors)")
    }

    @Test func everyProblemOfEveryFileIsReportedInOneRun() {
        let brokenConnector = ConfigFixtures.replacing(line: 10, with: "pol:", in: ConfigFixtures.amo)
        let brokenMapping = ConfigFixtures.replacing(line: 3, with: "pipeline: many", in: ConfigFixtures.tourMapping)
        let errors = ConfigFixtures.diagnostics(
            connectors: [("connectors/masterdeal.yaml", ConfigFixtures.masterDeal), ("connectors/tour.yaml", brokenConnector)],
            mappings: [("mappings/tour.yaml", brokenMapping)])
        #expect(errors.count >= 2)
        #expect(errors.contains { $0.hasPrefix("connectors/tour.yaml:10:1:") })
        #expect(errors.contains { $0.hasPrefix("mappings/tour.yaml:3:11:") })
    }
}
