import DealSyncSimulators
import Foundation
import NIOHTTP1
import Testing

/// Stage transitions and which events a change causes.
struct MasterDealStageTests {
    static let funnel: [String: [String]] = [
        "lead": ["qualified", "lost"], "qualified": ["proposal", "lost"], "proposal": ["won", "lost"],
        "won": ["active"], "lost": ["lead"],
    ]

    @Test func aDisallowedTransitionIsRejectedAndChangesNothing() async throws {
        let simulator = MasterDealSimulator(configuration: masterDealTestConfiguration(transitions: Self.funnel))
        try await simulator.withRunning { baseURL in
            let client = MasterDealTestClient(baseURL: baseURL)
            let id = try #require(try await client.create()["id"]?.stringValue)
            let patch = try await client.write(.PATCH, "/v1/deals/\(id)", #"{"stage":"won","opportunity_name":"x"}"#)
            #expect(patch.status == 422)
            #expect(patch.problemSlug == "invalid-stage-transition")
            #expect(try patch.json["type"]?.stringValue?.hasSuffix("invalid-stage-transition") == true)
            #expect(try patch.json["allowed_stages"] == ["qualified", "lost"])
            let stage = try await client.write(.POST, "/v1/deals/\(id)/stage", #"{"stage":"proposal"}"#)
            #expect(stage.status == 422)
            #expect(stage.problemSlug == "invalid-stage-transition")
            #expect(throws: MasterDealSimulator.Problem.self) {
                try simulator.editAsUser(id: id, changes: ["stage": "won"])
            }
            let deal = try #require(simulator.deal(id: id))
            #expect(deal.stage == "lead")
            #expect(deal.opportunityName == "Tour to Sochi")
            #expect(deal.version == 1)
            #expect(simulator.eventHistory.map(\.event.type) == [.dealCreated])
        }
    }

    @Test func allowedTransitionsWalkTheFunnel() async throws {
        let simulator = MasterDealSimulator(configuration: masterDealTestConfiguration(transitions: Self.funnel))
        try await simulator.withRunning { baseURL in
            let client = MasterDealTestClient(baseURL: baseURL)
            let id = try #require(try await client.create()["id"]?.stringValue)
            for stage in ["qualified", "proposal", "won", "active"] {
                let response = try await client.write(.POST, "/v1/deals/\(id)/stage", #"{"stage":"\#(stage)"}"#)
                #expect(response.status == 200, "\(stage): \(response.text)")
            }
            // Staying put is always allowed and is no change.
            let same = try await client.write(.POST, "/v1/deals/\(id)/stage", #"{"stage":"active"}"#)
            #expect(same.status == 200)
            #expect(simulator.deal(id: id)?.version == 5)
        }
    }

    @Test func anUnknownStageIsAValidationError() async throws {
        let simulator = MasterDealSimulator(configuration: masterDealTestConfiguration())
        try await simulator.withRunning { baseURL in
            let client = MasterDealTestClient(baseURL: baseURL)
            let create = try await client.write(.POST, "/v1/deals", #"{"account_id":"a","opportunity_name":"n","stage":"dreaming"}"#)
            #expect(create.status == 422)
            #expect(create.problemSlug == "validation-error")
            #expect(try create.json["pointer"] == "/stage")
            #expect(simulator.allDeals().isEmpty)
        }
    }

    @Test func changesCauseExactlyTheContractedEvents() async throws {
        let simulator = MasterDealSimulator(configuration: masterDealTestConfiguration())
        try await simulator.withRunning { baseURL in
            let client = MasterDealTestClient(baseURL: baseURL)
            let id = try #require(try await client.create()["id"]?.stringValue)
            func types() -> [MasterDealSimulator.Event.Kind] { simulator.eventHistory.map(\.event.type) }
            #expect(types() == [.dealCreated])
            // Other fields: a new version, no event.
            let other = try await client.write(.PATCH, "/v1/deals/\(id)", #"{"amount":"5","currency":"EUR","attributes":{"pax":3}}"#)
            #expect(other.status == 200)
            #expect(simulator.deal(id: id)?.version == 2)
            #expect(types() == [.dealCreated])
            _ = try await client.write(.PATCH, "/v1/deals/\(id)", #"{"stage":"won","owner_id":"u-olga"}"#)
            #expect(types() == [.dealCreated, .stageChanged, .dealClosedWon, .ownerChanged])
            _ = try await client.write(.POST, "/v1/deals/\(id)/stage", #"{"stage":"lost","reason":"budget"}"#)
            #expect(types().suffix(2) == [.stageChanged, .dealClosedLost])
            _ = try await client.write(.PUT, "/v1/deals/\(id)/owners", #"{"owner_id":null}"#)
            let history = simulator.eventHistory.map(\.event)
            #expect(history.count == 7)
            let won = try #require(history.first { $0.type == .stageChanged })
            #expect(won.previousStage == "lead")
            #expect(won.json["previous_stage"] == "lead")
            let lost = try #require(history.last { $0.type == .stageChanged })
            #expect(lost.json["reason"] == "budget")
            #expect(lost.json["version"] == .number(4))
            let unassigned = try #require(history.last)
            #expect(unassigned.type == .ownerChanged)
            #expect(unassigned.json["previous_owner_id"] == "u-olga")
            #expect(unassigned.json["deal"]?["owner_id"] == .null)
            #expect(history.allSatisfy { $0.source == "dealsync" })
            // A user's edit is signed as the MasterDeal UI.
            try simulator.editAsUser(id: id, changes: ["stage": "lead"])
            #expect(simulator.eventHistory.last?.event.source == "masterdeal-ui")
        }
    }

    @Test func aPatchThatChangesNothingKeepsTheVersionAndEmitsNothing() async throws {
        let simulator = MasterDealSimulator(configuration: masterDealTestConfiguration())
        try await simulator.withRunning { baseURL in
            let client = MasterDealTestClient(baseURL: baseURL)
            let extra = #","amount":"150000.00","currency":"RUB","sla_due_at":"2026-11-30T18:00:00+03:00","attributes":{"a":1}"#
            let id = try #require(try await client.create(extra: extra)["id"]?.stringValue)
            let before = try #require(simulator.deal(id: id))
            // The same values in other spellings: "150000" is 150000.00, 15:00Z is 18:00+03:00, removing an absent key.
            let response = try await client.write(
                .PATCH, "/v1/deals/\(id)",
                """
                {"amount":"150000","currency":"RUB","sla_due_at":"2026-11-30T15:00:00Z","stage":"lead","attributes":{"a":1,"zz":null}}
                """)
            #expect(response.status == 200)
            #expect(response.header("ETag") == "\"1\"")
            #expect(simulator.deal(id: id) == before)
            #expect(simulator.eventHistory.count == 1)
            #expect(simulator.stats.writesApplied == 1)
        }
    }
}
