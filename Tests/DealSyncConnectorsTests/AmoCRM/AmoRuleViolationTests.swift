import DealSyncConnectors
import DealSyncCore
import DealSyncSimulators
import Foundation
import Testing

/// amoCRM's second 400 shape: `{"errors": {"<lead id>": "<message>"}, "detail": "Invalid request body"}` with no
/// `validation-errors`, for writes that break a rule (a loss reason on a lead that is not lost).
struct AmoRuleViolationTests {
    typealias D = AmoDeliveryTests

    @Test func aBatchWhereOneLeadBreaksARuleDeadLettersOnlyThatLead() async throws {
        try await AmoHarness.run { amo in
            let ids = try D.seed(amo, count: 4)
            // Lead 3 is lost in amoCRM: a loss reason alone may be written to it.
            _ = try amo.simulator.editAsSalesperson(leadID: ids[3], userID: AmoFixture.olga, AmoLeadFields(statusID: AmoFixture.lost))
            let before = try #require(amo.simulator.lead(id: ids[1]))
            let outcomes = await amo.connector().deliver([
                D.update(ids[0], ["name": .text("Турция, всё включено")]),
                D.update(ids[1], ["loss_reason_id": .text("5020001")]),  // not lost: amoCRM refuses this one
                D.update(ids[2], ["price": .integer(99_000)]),
                D.update(ids[3], ["loss_reason_id": .text("5020002")]),
            ])
            for index in [0, 2, 3] {
                let lead = try #require(amo.simulator.lead(id: ids[index]))
                #expect(
                    outcomes[index] == .delivered(recordID: String(ids[index]), landedAt: SourceStamp(seconds: Int64(lead.updatedAt))),
                    "element \(index): \(outcomes[index])")
            }
            guard case .permanent(.validation, 400, let detail) = outcomes[1] else {
                Issue.record("the lead the answer names is refused for good: \(outcomes[1])")
                return
            }
            #expect(detail == "Invalid request body: Loss reason can be specified only for lost lead")
            #expect(amo.simulator.lead(id: ids[0])?.name == "Турция, всё включено")
            #expect(amo.simulator.lead(id: ids[2])?.price == 99_000)
            #expect(amo.simulator.lead(id: ids[3])?.lossReasonID == 5_020_002, "a loss reason alone reaches a lost lead")
            #expect(amo.simulator.lead(id: ids[1]) == before, "the refused lead is untouched")
            #expect(amo.requests("PATCH /api/v4/leads") == 2, "one refused batch, then the rest")
        }
    }

    @Test func aLossReasonWrittenWithAnOpenStatusIsLeftOut() async throws {
        try await AmoHarness.run { amo in
            let id = try D.seed(amo, count: 1)[0]
            let outcomes = await amo.connector().deliver([
                D.update(id, ["status": .text("7001000:7001002"), "loss_reason_id": .text("5020001")])
            ])
            guard case .delivered = outcomes[0] else {
                Issue.record("\(outcomes[0])")
                return
            }
            #expect(amo.simulator.lead(id: id)?.statusID == AmoFixture.qualified)
            #expect(amo.requests("PATCH /api/v4/leads") == 1, "nothing for amoCRM to refuse")
        }
    }
}
