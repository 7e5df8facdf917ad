import DealSyncCore
import Testing

/// MasterDeal refuses a write with 412 when the deal changed since the version it was based on: the refused
/// values are written again on top of the deal as it is now, and a field both sides changed meets its rule.
struct RefusedWriteTests {
    typealias F = EngineFixtures
    let decider = EngineFixtures.decider

    /// The salesperson renames the lead while someone changes the deal's amount in MasterDeal (its event still
    /// on its way): the rename is written with the old version, refused, and must still reach MasterDeal.
    func renameRefusedBecauseTheAmountChanged() throws -> (link: LinkSnapshot, refusedKey: String) {
        var link = F.settledLink()
        let rename = decider.decide(
            F.crm(F.crmRecord.merging(["name": .text("Сочи, 10 ночей")]) { $1 }, at: 1100), link: link,
            cause: "inbox:4:0")
        let write = try #require(rename.writes.first)
        #expect(rename.writes.count == 1 && write.side == .master)
        link.fields = rename.fields
        return (link, write.idempotencyKey)
    }

    @Test func anEditOfAnotherFieldDoesNotLoseTheRefusedValue() throws {
        let (link, key) = try renameRefusedBecauseTheAmountChanged()
        let current = F.master(F.masterRecord.merging(["amount": F.rub("180000.00")]) { $1 }, at: 1101, version: 2)
        let decision = decider.refused(keys: [key], on: .master, current: current, link: link, cause: "stale:1:0")

        let toMaster = try #require(decision.writes.first { $0.side == .master })
        #expect(toMaster.values == ["opportunity_name": .text("Сочи, 10 ночей")], "the rename is written again")
        #expect(toMaster.idempotencyKey != key, "a new write, with its own key")
        let toCRM = try #require(decision.writes.first { $0.side == .crm })
        #expect(toCRM.values == ["price": .integer(180_000)], "MasterDeal's own change still reaches amoCRM")
        #expect(decision.writes.count == 2)
        #expect(decision.entries.isEmpty, "the two edits touched different fields: no conflict")
        #expect(decision.fields["title"]?.decided == .text("Сочи, 10 ночей"))
        #expect(decision.fields["title"]?.master.pending.map(\.key) == [toMaster.idempotencyKey], "the refused write is forgotten")
        #expect(decision.fields["amount"]?.decided == F.rub("180000.00"))
    }

    @Test func anEditOfTheSameFieldMeetsTheFieldsRule() throws {
        let (link, key) = try renameRefusedBecauseTheAmountChanged()
        // MasterDeal renamed the deal too, after the salesperson: title is last-write-wins, MasterDeal's is later.
        let current = F.master(F.masterRecord.merging(["opportunity_name": .text("Сочи, 14 ночей")]) { $1 }, at: 1105, version: 2)
        let decision = decider.refused(keys: [key], on: .master, current: current, link: link, cause: "stale:1:0")

        let entry = try #require(decision.entries.first)
        #expect(decision.entries.count == 1)
        #expect(entry.kind == .conflict && entry.field == "title" && entry.rule == "lww" && entry.winner == .master)
        #expect(entry.masterValue == .text("Сочи, 14 ночей") && entry.crmValue == .text("Сочи, 10 ночей"))
        #expect(entry.masterAt == SourceStamp(seconds: 1105, version: 2) && entry.crmAt == SourceStamp(seconds: 1100))
        #expect(decision.fields["title"]?.decided == .text("Сочи, 14 ночей"))
        #expect(decision.writes.map(\.side) == [.crm], "only amoCRM needs the winner; MasterDeal holds it")
        #expect(decision.writes.first?.values == ["name": .text("Сочи, 14 ночей")])
    }

    @Test func whenTheDealCannotBeReadAgainTheDecidedValuesAreWrittenAgain() throws {
        let (link, key) = try renameRefusedBecauseTheAmountChanged()
        let decision = decider.refused(keys: [key], on: .master, current: nil, link: link, cause: "stale:1")
        #expect(decision.writes.count == 1)
        #expect(decision.writes.first?.side == .master)
        #expect(decision.writes.first?.values == ["opportunity_name": .text("Сочи, 10 ночей")])
    }

    @Test func anEndedLinkWritesNothingAgain() throws {
        var (link, key) = try renameRefusedBecauseTheAmountChanged()
        link.isActive = false
        let decision = decider.refused(keys: [key], on: .master, current: nil, link: link, cause: "stale:1")
        #expect(decision.writes.isEmpty)
        #expect(decision.fields["title"]?.master.pending.isEmpty == true, "the refused write is still forgotten")
    }

    /// The seed that showed the relay losing the salesperson's title: with the old handling (decide the
    /// refetched deal, converge only when it could not be read) MasterDeal keeps another title forever.
    @Test func theSeedThatFoundTheLostEditConverges() {
        var old = RecordWorld(.init(seed: 1, loseRate: 0, refusal: .decideOnly))
        old.run()
        #expect(old.divergent.contains { $0.hasPrefix("title:") }, "the old handling no longer loses the title on this seed")
        var world = RecordWorld(.init(seed: 1, loseRate: 0))
        world.run()
        #expect(world.refusals > 0)
        #expect(world.divergent.isEmpty, "\(world.divergent)")
        #expect(
            world.records[.crm]?["name"] == .text("title-crm-432") && world.records[.master]?["opportunity_name"] == .text("title-crm-432"))
    }
}
