import DealSyncCore
import Testing

/// `scope:` in a mapping: which records are created on the other side, decided by the link policy without a
/// database. A record outside is never created; one that moves in later is created then; a linked one stays.
struct SyncScopeTests {
    typealias F = EngineFixtures

    /// Open deals only, touched since 1_000_000 s.
    static let openRecent = SyncScope(stages: ["lead", "qualified"], updatedSinceMillis: 1_000_000_000)

    static func policy(_ scope: SyncScope) -> LinkPolicy {
        var mapping = F.mapping
        mapping.scope = scope
        let setup = SyncSetup(
            masterConnector: "masterdeal",
            lanes: [
                .init(
                    connector: "tour", decider: RecordDecider(mapping: mapping, crmConnector: "tour", masterConnector: "masterdeal"),
                    masterAccount: "acc-tour")
            ])
        return LinkPolicy(setup: setup, maxAttempts: 12)
    }

    static func lead(status: Int64, at seconds: Int64, id: String = "9001") -> Observation {
        var fields = F.crmRecord
        fields["status"] = F.stage(status)
        var observation = F.crm(fields, at: seconds)
        observation.recordID = id
        return observation
    }

    static func deal(stage: String, at seconds: Int64) -> Observation {
        var fields = F.masterRecord
        fields["stage"] = .text(stage)
        return F.master(fields, at: seconds, version: 1)
    }

    @Test func aRecordInScopeIsCreatedOnTheOtherSide() throws {
        let policy = Self.policy(Self.openRecent)
        #expect(
            try policy.actions(for: Self.lead(status: 2, at: 1_000_000), in: LinkBook(), attempts: 0) == [
                .createInMaster(connector: "tour")
            ])
        #expect(
            try policy.actions(for: Self.deal(stage: "lead", at: 1_000_001), in: LinkBook(), attempts: 0) == [
                .createInCRM(connector: "tour")
            ])
    }

    @Test(arguments: [
        (Int64(142), Int64(1_000_500), "a won lead: its stage is not in scope"),
        (3, 999_999, "an open lead last changed before updated_since"),
        (99, 1_000_500, "a lead in a stage the matrix does not know (another pipeline)"),
    ])
    func aCRMRecordOutsideTheScopeIsNeverCreatedInMasterDeal(status: Int64, at seconds: Int64, why: String) throws {
        #expect(
            try Self.policy(Self.openRecent).actions(for: Self.lead(status: status, at: seconds), in: LinkBook(), attempts: 0).isEmpty,
            "\(why)")
    }

    @Test func aDealOutsideTheScopeIsNeverCreatedInTheCRM() throws {
        let policy = Self.policy(Self.openRecent)
        #expect(try policy.actions(for: Self.deal(stage: "won", at: 1_000_500), in: LinkBook(), attempts: 0).isEmpty)
        #expect(try policy.actions(for: Self.deal(stage: "lead", at: 999_999), in: LinkBook(), attempts: 0).isEmpty)
    }

    @Test func aRecordThatMovesIntoScopeJoinsThen() throws {
        let policy = Self.policy(Self.openRecent)
        #expect(try policy.actions(for: Self.lead(status: 143, at: 1_000_100), in: LinkBook(), attempts: 0).isEmpty)
        #expect(
            try policy.actions(for: Self.lead(status: 1, at: 1_000_200), in: LinkBook(), attempts: 0) == [
                .createInMaster(connector: "tour")
            ])
    }

    @Test func aLinkedRecordKeepsSyncingWhenItLeavesTheScope() throws {
        let book = LinkBook(links: [.init(id: 5, connector: "tour", masterDealID: "md-1", recordID: "9001")])
        let policy = Self.policy(Self.openRecent)
        #expect(try policy.actions(for: Self.lead(status: 142, at: 1_000_500), in: book, attempts: 0) == [.decide(linkID: 5)])
        #expect(try policy.actions(for: Self.deal(stage: "won", at: 1_000_500), in: book, attempts: 0) == [.decide(linkID: 5)])
    }

    @Test func aRecordCarryingAMasterDealIDIsStillAdopted() throws {
        var lead = Self.lead(status: 142, at: 10)
        lead.linkedMasterID = "md-7"
        #expect(
            try Self.policy(Self.openRecent).actions(for: lead, in: LinkBook(), attempts: 0) == [
                .adopt(connector: "tour", masterDealID: "md-7")
            ])
    }

    @Test func withoutAScopeEveryRecordTakesPart() throws {
        let policy = Self.policy(SyncScope())
        #expect(try policy.actions(for: Self.lead(status: 142, at: 1), in: LinkBook(), attempts: 0) == [.createInMaster(connector: "tour")])
        #expect(try policy.actions(for: Self.deal(stage: "lost", at: 1), in: LinkBook(), attempts: 0) == [.createInCRM(connector: "tour")])
    }
}
