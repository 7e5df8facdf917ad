import DealSyncCore
import Foundation
import Testing

/// `matching:` in a mapping, as the loader reads and checks it.
struct MappingMatchingTests {
    static func mapping(_ matching: String) -> String { ConfigFixtures.tourMapping + "\n" + matching }

    @Test func keysInOrderWithTheirNormalisationLoad() throws {
        let configuration = try ConfigFixtures.load(mappings: [
            (
                "mappings/tour.yaml",
                Self.mapping(
                    "matching:\n  keys:\n    - {fields: [title], normalise: exact}\n    - fields: [title, owner]\n  no_match: leave")
            )
        ]).get()
        let matching = try #require(configuration.mappings["tour"]).matching
        #expect(
            matching
                == MatchingRules(
                    keys: [.init(fields: ["title"], normalise: .exact), .init(fields: ["title", "owner"], normalise: .text)],
                    noMatch: .leave))
        #expect(try ConfigFixtures.load().get().mappings["tour"]?.matching == MatchingRules(), "the link field only, creating")
    }

    @Test func everyMistakeIsReportedAtItsPosition() throws {
        let lines = ConfigFixtures.tourMapping.components(separatedBy: "\n").count
        let errors = ConfigFixtures.diagnostics(mappings: [
            (
                "mappings/tour.yaml",
                Self.mapping(
                    "matching:\n  keys:\n    - {fields: [titel]}\n    - {fields: [title], normalise: phonetic}\n    - {fields: []}\n    - {field: [title]}\n  no_match: guess"
                )
            )
        ])
        #expect(
            errors.filter { $0.hasPrefix("mappings/") } == [
                "mappings/tour.yaml:\(lines + 3):17: matching.keys[0].fields: 'titel' is not a field of this mapping (did you mean 'title'?)",
                "mappings/tour.yaml:\(lines + 4):36: matching.keys[1].normalise: expected one of text, phone, email, exact, found \"phonetic\"",
                "mappings/tour.yaml:\(lines + 5):16: matching.keys[2].fields: name at least one field of this mapping",
                "mappings/tour.yaml:\(lines + 6):7: matching.keys[3]: missing required key 'fields'",
                "mappings/tour.yaml:\(lines + 6):8: unknown key 'field' in matching.keys[3] (did you mean 'fields'?)",
                "mappings/tour.yaml:\(lines + 7):13: matching.no_match: expected one of create, leave, found \"guess\"",
            ])
    }
}
