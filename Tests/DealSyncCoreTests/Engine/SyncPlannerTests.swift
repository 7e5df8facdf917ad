import DealSyncCore
import Testing

/// The planner decides a batch in memory against a link book: links it makes take reserved ids, later
/// observations see what earlier ones did, and an observation that waits changes nothing.
struct SyncPlannerTests {
    typealias F = EngineFixtures
    static let planner = SyncPlanner(
        setup: SyncSetup(
            masterConnector: "masterdeal",
            lanes: [
                .init(connector: "tour", decider: F.decider, masterAccount: "acc-tour")
            ]), maxAttempts: 12)

    @Test func aNewDealTakesAReservedIdAndItsCreateIsKeyedByIt() throws {
        var book = LinkBook(reservedIDs: [41, 42])
        guard
            case .applied(let effects) = try Self.planner.apply(
                F.master(F.masterRecord, at: 1000, version: 3), cause: "inbox:1:0",
                attempts: 0, book: &book)
        else {
            Issue.record("expected the deal to be decided")
            return
        }
        let link = try #require(book[41])
        #expect(book.created == [41] && book.reservedLeft == 1)
        #expect(link.connector == "tour" && link.masterDealID == "md-1" && link.recordID == nil && link.masterVersion == 3)
        #expect(effects.writes.count == 1)
        #expect(effects.writes.first?.linkID == 41 && effects.writes.first?.target == "tour")
        #expect(effects.writes.first?.write.operation == .create && effects.writes.first?.write.recordKey == "link:41")
        #expect(effects.touched == [41])
    }

    @Test func laterObservationsOfABatchSeeWhatEarlierOnesDid() throws {
        var book = LinkBook(reservedIDs: [7, 8])
        _ = try Self.planner.apply(F.master(F.masterRecord, at: 1000, version: 1), cause: "inbox:1:0", attempts: 0, book: &book)
        // The create's echo arrives in the same batch: it attaches the record to the new link instead of adopting.
        var echo = F.crm(F.crmRecord, at: 1001)
        echo.linkedMasterID = "md-1"
        guard case .applied(let effects) = try Self.planner.apply(echo, cause: "inbox:2:0", attempts: 0, book: &book) else {
            Issue.record("expected the echo to be decided")
            return
        }
        #expect(book[7]?.recordID == "9001")
        #expect(book.created == [7], "no second link")
        #expect(effects.refetches.isEmpty)
    }

    @Test func anObservationThatMustWaitChangesNothing() throws {
        var book = LinkBook(reservedIDs: [7])
        let before = book
        var ours = F.master(F.masterRecord, at: 1000, version: 1)
        ours.byIntegration = true
        let outcome = try Self.planner.apply(ours, cause: "inbox:1:0", attempts: 0, book: &book)
        #expect(outcome == .wait("waiting for the link of a deal dealsync created"))
        #expect(book == before)
    }

    @Test func anAdoptedRecordAsksForItsDeal() throws {
        var book = LinkBook(reservedIDs: [9])
        var lead = F.crm(F.crmRecord, at: 1000)
        lead.linkedMasterID = "md-5"
        guard case .applied(let effects) = try Self.planner.apply(lead, cause: "inbox:1:0", attempts: 0, book: &book) else {
            Issue.record("expected the record to be adopted")
            return
        }
        #expect(effects.refetches == ["md-5"])
        #expect(effects.writes.isEmpty, "nothing is written before MasterDeal's deal is read")
        #expect(book[9]?.masterDealID == "md-5" && book[9]?.recordID == "9001")
    }

    @Test func anEndedLinkCancelsItsWaitingWrites() throws {
        let settled = F.settledLink()
        var book = LinkBook(links: [
            .init(id: settled.linkID, connector: "tour", masterDealID: "md-1", recordID: "9001", fields: settled.fields)
        ])
        guard
            case .applied(let effects) = try Self.planner.apply(
                F.crm([:], at: 1100, action: .delete), cause: "inbox:3:0", attempts: 0,
                book: &book)
        else {
            Issue.record("expected the delete to be decided")
            return
        }
        #expect(book[settled.linkID]?.isActive == false)
        #expect(effects.cancelled.map(\.linkID) == [settled.linkID] && effects.cancelled.map(\.target) == ["tour"])
        #expect(effects.entries.map(\.entry.kind) == [.delete])
    }
}
