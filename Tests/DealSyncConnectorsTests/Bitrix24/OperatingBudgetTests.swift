import Testing

@testable import DealSyncConnectors

/// The pure pacing of a Bitrix24 method under its operating-time budget (480 s in ten minutes, 90 % used at most).
struct OperatingBudgetTests {
    @Test func callsGoUntilTheNextWouldPassTheHeadroomThenWaitForTheWindow() {
        var budget = OperatingBudget()
        var sent = 0
        while budget.wait(before: ["batch"], at: 0) == nil {
            sent += 1
            budget.record(method: "batch", operating: 51 * Double(sent), at: 0)
        }
        #expect(sent == 8, "8 × 51 = 408; a ninth would reach 459 > 432")
        #expect(budget.wait(before: ["batch"], at: 0) == 600, "everything was spent at once: it leaves in ten minutes")
        #expect(budget.wait(before: ["batch"], at: 599.5) == 0.5)
        #expect(budget.wait(before: ["batch"], at: 600) == nil)
        #expect(budget.wait(before: ["crm.deal.get"], at: 0) == nil, "other methods have their own budget")
    }

    @Test func spendsLeaveOldestFirst() {
        var budget = OperatingBudget()
        budget.record(method: "m", operating: 300, at: 0)  // a first answer: what the portal holds counts as spent now
        budget.record(method: "m", operating: 400, at: 100)  // this call cost 100
        // 400 + 100 > 432 until the spend at 0 leaves (at 600): then 100 + 100 fits.
        #expect(budget.wait(before: ["m"], at: 100) == 500)
        #expect(budget.wait(before: ["m"], at: 600) == nil)
    }

    @Test func theAccountThePortalReportsBoundsTheEstimateFromBelow() {
        var budget = OperatingBudget()
        budget.record(method: "m", operating: 10, at: 0)
        // Another process of the same application spent too: the portal reports more than this one sent.
        budget.record(method: "m", operating: 420, at: 1)
        #expect(budget.wait(before: ["m"], at: 1) != nil, "420 + a call of 410 is past the headroom")
        #expect(budget.wait(before: ["m"], at: 601) == nil)
    }

    @Test func aBatchWaitsForTheMostLoadedOfItsMethods() {
        var budget = OperatingBudget()
        budget.record(method: "crm.deal.update", operating: 420, at: 0)
        budget.record(method: "batch", operating: 5, at: 0)
        #expect(budget.wait(before: ["batch", "crm.deal.get"], at: 0) == nil)
        #expect(budget.wait(before: ["batch", "crm.deal.get", "crm.deal.update"], at: 0) == 600)
    }

    @Test func aRefusalHoldsTheMethodUntilItsReset() {
        var budget = OperatingBudget()
        budget.refused(method: "m", resetIn: 42, at: 10)
        #expect(budget.wait(before: ["m"], at: 10) == 42)
        #expect(budget.wait(before: ["m"], at: 52) == nil)
        budget.refused(method: "n", resetIn: nil, at: 0)
        #expect(budget.wait(before: ["n"], at: 0) == 60, "without a reset time: a tenth of the window, one bucket")
    }

    @Test func theCostFollowsTheBiggestRecentCall() {
        var budget = OperatingBudget()
        budget.record(method: "m", operating: 300, at: 0)
        budget.record(method: "m", operating: 390, at: 1)  // a call of 90
        budget.record(method: "m", operating: 395, at: 2)  // a call of 5
        // The next call is expected to cost about 90 (81 after decay), not 5: 395 + 81 passes 432 until 300 leaves.
        #expect(budget.wait(before: ["m"], at: 2) == 598)
        #expect(budget.wait(before: ["m"], at: 600) == nil)
    }

    @Test func aFirstAnswerExpectsACallAsBigAsTheHeadroom() {
        var budget = OperatingBudget()
        budget.record(method: "m", operating: 390, at: 0)
        #expect(budget.wait(before: ["m"], at: 0) == 600, "390 + 48 = 438 passes 432: the next call waits")
        budget.record(method: "n", operating: 380, at: 0)
        #expect(budget.wait(before: ["n"], at: 0) == nil, "380 + 48 = 428 does not")
    }
}
