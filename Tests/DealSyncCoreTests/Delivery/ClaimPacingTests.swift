import DealSyncCore
import Testing

/// A lane's next claim waits for rows to gather only while a batch is under way and the last claim was not full.
struct ClaimPacingTests {
    let gather = Duration.milliseconds(5)

    @Test func withNothingUnderWayALaneClaimsAtOnce() {
        #expect(ClaimPacing.delay(batchesUnderWay: 0, lastClaimFull: false, gather: gather) == .zero)
        #expect(ClaimPacing.delay(batchesUnderWay: 0, lastClaimFull: true, gather: gather) == .zero)
    }

    @Test func aBacklogIsClaimedAtOnceWhateverIsUnderWay() {
        #expect(ClaimPacing.delay(batchesUnderWay: 3, lastClaimFull: true, gather: gather) == .zero)
    }

    @Test func rowsThatTrickleInWhileABatchIsUnderWayGatherFirst() {
        #expect(ClaimPacing.delay(batchesUnderWay: 1, lastClaimFull: false, gather: gather) == gather)
        #expect(ClaimPacing.delay(batchesUnderWay: 1, lastClaimFull: false, gather: .zero) == .zero, "0 turns gathering off")
    }
}
