import DealSyncCore
import Foundation
import Testing

/// `poll.start`: where a connector that was never polled starts reading.
struct PollStartTests {
    static func amo(start: String) -> String {
        ConfigFixtures.replacing(line: 11, with: "  interval: 30s\n  start: \(start)", in: ConfigFixtures.amo)
    }

    func loadedStart(_ text: String) throws -> ConnectorConfig.Poll.Start {
        let configuration = try ConfigFixtures.load(connectors: [
            ("connectors/masterdeal.yaml", ConfigFixtures.masterDeal), ("connectors/tour.yaml", Self.amo(start: text)),
        ]).get()
        return try #require(configuration.connector("tour")).poll.start
    }

    @Test func withoutAStartAConnectorStartsNow() throws {
        let configuration = try ConfigFixtures.load().get()
        #expect(configuration.connector("tour")?.poll.start == .now)
        #expect(configuration.connector("masterdeal")?.poll.start == .now)
    }

    @Test(arguments: [
        ("now", ConnectorConfig.Poll.Start.now),
        ("beginning", .beginning),
        ("2026-01-01", .since(millis: 1_767_225_600_000)),
        ("\"2026-01-01\"", .since(millis: 1_767_225_600_000)),
        ("2026-01-01T09:00:00+03:00", .since(millis: 1_767_247_200_000)),
        ("2026-01-01T06:00:00Z", .since(millis: 1_767_247_200_000)),
    ])
    func everyWrittenFormLoads(text: String, expected: ConnectorConfig.Poll.Start) throws {
        #expect(try loadedStart(text) == expected)
    }

    @Test(arguments: ["yesterday", "2026-13-01", "2026-01-01T09:00:00", "\"\"", "[now]", "0"])
    func anythingElseIsRefusedAtItsPosition(text: String) {
        let errors = ConfigFixtures.diagnostics(connectors: [
            ("connectors/masterdeal.yaml", ConfigFixtures.masterDeal), ("connectors/tour.yaml", Self.amo(start: text)),
        ])
        #expect(errors.count == 1, "\(errors)")
        #expect(
            errors.first?.hasPrefix("connectors/tour.yaml:12:10: poll.start: expected now, beginning, a date such as 2026-01-01") == true,
            "\(errors)")
    }

    @Test func aMisspeltKeyBesideItIsRefused() {
        let errors = ConfigFixtures.diagnostics(connectors: [
            ("connectors/masterdeal.yaml", ConfigFixtures.masterDeal),
            ("connectors/tour.yaml", ConfigFixtures.replacing(line: 11, with: "  interval: 30s\n  strat: now", in: ConfigFixtures.amo)),
        ])
        #expect(errors == ["connectors/tour.yaml:12:3: unknown key 'strat' in poll (did you mean 'start'?)"])
    }

    // MARK: - The first instant, pure

    @Test func nowStartsAnOverlapBeforeTheFirstPoll() {
        let poll = ConnectorConfig.Poll(overlap: .seconds(2), start: .now)
        let first = poll.firstInstant(now: Date(timeIntervalSince1970: 1_800_000_000.75))
        #expect(first == Int64(1_799_999_998_750))
    }

    @Test func beginningReadsEverythingAndADateIsTakenAsWritten() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(ConnectorConfig.Poll(start: .beginning).firstInstant(now: now) == nil)
        #expect(
            ConnectorConfig.Poll(overlap: .seconds(5), start: .since(millis: 1_767_225_600_000)).firstInstant(now: now) == 1_767_225_600_000
        )
    }
}

/// `scope:` in a mapping, as the loader reads and checks it.
struct MappingScopeTests {
    static func mapping(scope: String) -> String { ConfigFixtures.tourMapping + "\n" + scope }

    @Test func stagesAndADateLoad() throws {
        let configuration = try ConfigFixtures.load(mappings: [
            ("mappings/tour.yaml", Self.mapping(scope: "scope:\n  stages: [lead, qualified]\n  updated_since: 2026-01-01"))
        ]).get()
        let scope = try #require(configuration.mappings["tour"]).scope
        #expect(scope == SyncScope(stages: ["lead", "qualified"], updatedSinceMillis: 1_767_225_600_000))
        #expect(try ConfigFixtures.load().get().mappings["tour"]?.scope == SyncScope())
    }

    @Test func everyMistakeIsReportedAtItsPosition() throws {
        let lines = ConfigFixtures.tourMapping.components(separatedBy: "\n").count
        let errors = ConfigFixtures.diagnostics(mappings: [
            ("mappings/tour.yaml", Self.mapping(scope: "scope:\n  stages: [lead, qualifed]\n  updated_since: last year\n  pipelines: [1]"))
        ])
        #expect(
            errors.filter { $0.hasPrefix("mappings/") } == [
                "mappings/tour.yaml:\(lines + 2):18: scope.stages: 'qualifed' is not a canonical stage of this mapping (did you mean 'qualified'?)",
                "mappings/tour.yaml:\(lines + 3):18: scope.updated_since: expected a date such as 2026-01-01 (midnight UTC) or an instant such as 2026-01-01T09:00:00+03:00, found \"last year\"",
                "mappings/tour.yaml:\(lines + 4):3: unknown key 'pipelines' in scope (expected one of: stages, updated_since)",
            ])
    }
}
