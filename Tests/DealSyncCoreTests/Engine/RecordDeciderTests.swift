import DealSyncCore
import Testing

/// The conflict model, rule by rule, on a tour-agency mapping.
struct RecordDeciderTests {
    typealias F = EngineFixtures
    let decider = EngineFixtures.decider

    @Test func aDealCreatedInMasterDealIsCreatedInTheCRMWithItsLinkField() throws {
        let link = LinkSnapshot(linkID: 7, masterDealID: "md-1", recordID: nil)
        let decision = decider.createInCRM(from: F.master(F.masterRecord, at: 1000, version: 1), link: link, cause: "inbox:1:0")
        let write = try #require(decision.writes.first)
        #expect(decision.writes.count == 1)
        #expect(write.side == .crm && write.operation == .create && write.recordKey == "link:7")
        #expect(
            write.values == [
                "custom_fields.900001": .text("md-1"), "name": .text("Сочи, 7 ночей"), "price": .integer(150_001),
                "status": F.stage(1), "responsible_user_id": .text("501"), "custom_fields.900002": .time(1_767_200_000),
                "custom_fields.900004": .text("501"),
            ])
        #expect(decision.entries.isEmpty)
    }

    @Test func theCreatesEchoAndItsConfirmationProduceNothing() {
        let link = F.settledLink()
        for (name, state) in link.fields {
            #expect(state.crm.pending.isEmpty, "\(name) still has pending writes")
        }
        let again = decider.decide(F.crm(F.crmRecord, at: 1001), link: link, cause: "inbox:3:0")
        #expect(again.writes.isEmpty)
        #expect(again.entries.isEmpty)
    }

    @Test func aOneSidedChangePropagates() throws {
        let link = F.settledLink()
        let decision = decider.decide(
            F.crm(F.crmRecord.merging(["name": .text("Сочи, 10 ночей")]) { $1 }, at: 1100), link: link, cause: "inbox:4:0")
        let write = try #require(decision.writes.first)
        #expect(decision.writes.count == 1)
        #expect(write.side == .master && write.recordKey == "md-1")
        #expect(write.values == ["opportunity_name": .text("Сочи, 10 ночей")])
        #expect(decision.fields["title"]?.decided == .text("Сочи, 10 ночей"))
        #expect(decision.entries.isEmpty)
    }

    @Test func aWriteProtectedFieldChangedOnTheWrongSideIsWrittenBack() throws {
        let link = F.settledLink()
        let edited = F.crmRecord.merging(["custom_fields.900002": .text("1800000000")]) { $1 }
        let decision = decider.decide(F.crm(edited, at: 1100), link: link, cause: "inbox:5:0")
        let write = try #require(decision.writes.first)
        #expect(write.side == .crm)
        #expect(write.values == ["custom_fields.900002": .time(1_767_200_000)])
        let entry = try #require(decision.entries.first)
        #expect(entry.kind == .oneWayViolation && entry.field == "sla" && entry.winner == .master)
        #expect(entry.crmValue == .time(1_800_000_000) && entry.masterValue == .time(1_767_200_000))
        #expect(decision.fields["sla"]?.decided == .time(1_767_200_000))
    }

    @Test func concurrentChangesResolveByPriorityAndAreLogged() throws {
        var link = F.settledLink()
        // MasterDeal moves the deal to "won" and amoCRM, before seeing that, moves it back to lead's stage 700:1 → 700:2.
        let fromMaster = decider.decide(
            F.master(F.masterRecord.merging(["stage": .text("won")]) { $1 }, at: 1200, version: 2), link: link, cause: "inbox:6:0")
        #expect(fromMaster.writes.map(\.values) == [["status": F.stage(142)]])
        link = F.applying(fromMaster, to: link)
        let fromCRM = decider.decide(F.crm(F.crmRecord.merging(["status": F.stage(2)]) { $1 }, at: 1201), link: link, cause: "inbox:7:0")
        let entry = try #require(fromCRM.entries.first)
        #expect(entry.kind == .conflict && entry.field == "stage" && entry.rule == "priority:master" && entry.winner == .master)
        #expect(entry.masterValue == .text("won") && entry.crmValue == F.stage(2))
        #expect(entry.masterAt == SourceStamp(seconds: 1200, version: 2) && entry.crmAt == SourceStamp(seconds: 1201))
        #expect(fromCRM.fields["stage"]?.decided == .text("won"))
        // The write of "won" to amoCRM is still in flight, so no second write is needed.
        #expect(fromCRM.writes.isEmpty)
    }

    @Test func concurrentChangesResolveByLastWriteWinsOnSourceTimestamps() throws {
        var link = F.settledLink()
        let fromMaster = decider.decide(
            F.master(F.masterRecord.merging(["opportunity_name": .text("Сочи A")]) { $1 }, at: 1300, version: 2), link: link, cause: "i:8")
        link = F.applying(fromMaster, to: link)
        let later = decider.decide(F.crm(F.crmRecord.merging(["name": .text("Сочи B")]) { $1 }, at: 1301), link: link, cause: "i:9")
        let entry = try #require(later.entries.first)
        #expect(entry.kind == .conflict && entry.rule == "lww" && entry.winner == .crm)
        #expect(later.fields["title"]?.decided == .text("Сочи B"))
        #expect(Set(later.writes.map(\.side)) == [.master, .crm])
    }

    @Test func anExactLastWriteWinsTieGoesToMasterDeal() throws {
        var link = F.settledLink()
        let fromMaster = decider.decide(
            F.master(F.masterRecord.merging(["opportunity_name": .text("M")]) { $1 }, at: 1400, version: 2), link: link, cause: "i:10")
        link = F.applying(fromMaster, to: link)
        let tie = decider.decide(F.crm(F.crmRecord.merging(["name": .text("C")]) { $1 }, at: 1400), link: link, cause: "i:11")
        #expect(tie.entries.first?.winner == .master)
        #expect(tie.fields["title"]?.decided == .text("M"))
    }

    @Test func convergedChangesMoveTheDecidedValueSilently() {
        var link = F.settledLink()
        let fromMaster = decider.decide(
            F.master(F.masterRecord.merging(["attributes.tour_type": .text("ski")]) { $1 }, at: 1500, version: 2), link: link, cause: "i:12"
        )
        link = F.applying(fromMaster, to: link)
        let sameOnCRM = decider.decide(
            F.crm(F.crmRecord.merging(["custom_fields.900004": .text("502")]) { $1 }, at: 1500), link: link, cause: "i:13")
        #expect(sameOnCRM.entries.isEmpty)
        #expect(sameOnCRM.writes.isEmpty)
        #expect(sameOnCRM.fields["tour_type"]?.decided == .text("ski"))
    }

    @Test func aStageThatCollapsesIntoTheDecidedStageIsLeftAlone() {
        let link = F.settledLink()
        // Lead → qualified written by MasterDeal; the salesperson then picks "Прогрев", also qualified.
        var current = F.applying(
            decider.decide(
                F.master(F.masterRecord.merging(["stage": .text("qualified")]) { $1 }, at: 1600, version: 2), link: link, cause: "i:14"),
            to: link)
        let landed = decider.confirmed(
            key: current.fields["stage"]!.crm.pending[0].key, on: .crm, landedAt: SourceStamp(seconds: 1601), link: current, cause: "c")
        current = F.applying(landed, to: current)
        let warming = decider.decide(F.crm(F.crmRecord.merging(["status": F.stage(3)]) { $1 }, at: 1700), link: current, cause: "i:15")
        #expect(warming.writes.isEmpty, "Прогрев already stands for qualified")
        #expect(warming.entries.isEmpty)
        #expect(warming.fields["stage"]?.decided == .text("qualified"))
        // MasterDeal saying "qualified" again does not move the lead out of Прогрев.
        let repeatMaster = decider.decide(
            F.master(F.masterRecord.merging(["stage": .text("qualified"), "opportunity_name": .text("x")]) { $1 }, at: 1800, version: 3),
            link: F.applying(warming, to: current), cause: "i:16")
        #expect(!repeatMaster.writes.contains { $0.values["status"] != nil })
    }

    @Test func echoesPropagateNothing() throws {
        var link = F.settledLink()
        let change = decider.decide(
            F.master(F.masterRecord.merging(["amount": F.rub("200000")]) { $1 }, at: 1900, version: 2), link: link, cause: "i:17")
        #expect(change.writes.map(\.values) == [["price": .integer(200_000)]])
        link = F.applying(change, to: link)
        let echo = decider.decide(F.crm(F.crmRecord.merging(["price": .text("200000")]) { $1 }, at: 1901), link: link, cause: "i:18")
        #expect(echo.writes.isEmpty)
        #expect(echo.entries.isEmpty)
        #expect(echo.fields["amount"]?.crm.pending.isEmpty == true)
    }

    @Test func aLossyMoneyEchoIsNotANewChange() {
        // 150000.50 RUB is written to amoCRM as 150001; the echo must not round-trip back into MasterDeal.
        let link = F.settledLink()
        #expect(link.fields["amount"]?.decided == F.rub("150000.50"))
        let poll = decider.decide(F.crm(F.crmRecord, at: 2000), link: link, cause: "i:19")
        #expect(poll.writes.isEmpty)
    }

    @Test func deletesFollowTheMappingAndAreLogged() throws {
        let link = F.settledLink()
        let deleted = decider.decide(F.crm([:], at: 2100, action: .delete), link: link, cause: "i:20")
        #expect(deleted.linkChange == .unlink)
        #expect(deleted.writes.isEmpty)
        #expect(deleted.entries.first?.kind == .delete && deleted.entries.first?.rule == "on_delete:unlink")

        var propagate = EngineFixtures.mapping
        propagate.deletes = .propagate(masterStage: "lost")
        let decider = RecordDecider(mapping: propagate, crmConnector: "tour", masterConnector: "masterdeal")
        let propagated = decider.decide(F.crm([:], at: 2100, action: .delete), link: link, cause: "i:21")
        #expect(propagated.linkChange == .unlink)
        #expect(propagated.writes.map(\.values) == [["stage": .text("lost")]])

        var ignore = EngineFixtures.mapping
        ignore.deletes = .ignore
        let ignored = RecordDecider(mapping: ignore, crmConnector: "tour", masterConnector: "masterdeal")
            .decide(F.crm([:], at: 2100, action: .delete), link: link, cause: "i:22")
        #expect(ignored.linkChange == nil && ignored.writes.isEmpty && ignored.entries.count == 1)
    }

    @Test func aRecordCreatedInTheCRMIsCreatedInMasterDeal() throws {
        let link = LinkSnapshot(linkID: 9, masterDealID: nil, recordID: "9001")
        let decision = decider.createInMaster(
            from: F.crm(F.crmRecord.merging(["custom_fields.900003": .text("+7 900 000-00-00")]) { $1 }, at: 500),
            link: link, account: "acc-tour", cause: "i:23")
        let write = try #require(decision.writes.first)
        #expect(decision.writes.count == 1 && write.side == .master && write.operation == .create && write.recordKey == "link:9")
        #expect(write.values["account_id"] == .text("acc-tour"))
        #expect(write.values["opportunity_name"] == .text("Сочи, 7 ночей"))
        #expect(write.values["stage"] == .text("lead"))
        #expect(write.values["amount"] == F.rub("150001"))
        #expect(write.values["attributes.phone"] == .text("+7 900 000-00-00"))
        #expect(write.values["sla_due_at"] == nil, "sla flows master → crm only")
    }

    @Test func valuesWithNoCounterpartAreLoggedNotWritten() throws {
        let link = F.settledLink()
        let decision = decider.decide(F.crm(F.crmRecord.merging(["status": F.stage(99)]) { $1 }, at: 2200), link: link, cause: "i:24")
        let entry = try #require(decision.entries.first)
        #expect(entry.kind == .unmappedValue && entry.field == "stage")
        #expect(entry.outcome.contains("700:99"))
        #expect(decision.writes.isEmpty)
    }

    @Test func personalDataIsMaskedInTheLog() throws {
        var link = F.settledLink()
        let first = decider.decide(
            F.crm(F.crmRecord.merging(["custom_fields.900003": .text("+7 111")]) { $1 }, at: 2300), link: link, cause: "i:25")
        link = F.applying(first, to: link)
        let violation = decider.decide(
            F.master(F.masterRecord.merging(["attributes.phone": .text("+7 222")]) { $1 }, at: 2301, version: 2), link: link, cause: "i:26")
        let entry = try #require(violation.entries.first)
        #expect(entry.kind == .oneWayViolation && entry.field == "phone")
        #expect(entry.masterValue == .text("***") && entry.crmValue == .text("***"))
    }

    @Test func idempotencyKeysAreDeterministic() {
        let link = F.settledLink()
        let observation = F.crm(F.crmRecord.merging(["name": .text("X")]) { $1 }, at: 2400)
        let a = decider.decide(observation, link: link, cause: "inbox:42:0")
        let b = decider.decide(observation, link: link, cause: "inbox:42:0")
        let c = decider.decide(observation, link: link, cause: "inbox:43:0")
        #expect(a.writes.map(\.idempotencyKey) == b.writes.map(\.idempotencyKey))
        #expect(a.writes.map(\.idempotencyKey) != c.writes.map(\.idempotencyKey))
    }

    @Test func aDuplicateObservationChangesNothing() {
        var link = F.settledLink()
        let observation = F.crm(F.crmRecord.merging(["name": .text("X")]) { $1 }, at: 2500)
        link = F.applying(decider.decide(observation, link: link, cause: "i:27"), to: link)
        let duplicate = decider.decide(observation, link: link, cause: "i:28")
        #expect(duplicate.writes.isEmpty && duplicate.entries.isEmpty)
        #expect(duplicate.fields == link.fields)
    }

    @Test func staleObservationsAreDropped() {
        var link = F.settledLink()
        link = F.applying(
            decider.decide(F.crm(F.crmRecord.merging(["name": .text("new")]) { $1 }, at: 2600), link: link, cause: "i:29"), to: link)
        let stale = decider.decide(F.crm(F.crmRecord.merging(["name": .text("old")]) { $1 }, at: 2550), link: link, cause: "i:30")
        #expect(stale.writes.isEmpty)
        #expect(stale.fields["title"]?.decided == .text("new"))
    }
}
