import DealSyncCore
import Foundation
import Testing

/// How onboarding matches records that existed before dealsync (the link field, then the mapping's keys), what it
/// creates, leaves and reports, and how a matched pair's differing fields are decided: without a database.
struct OnboardingPlannerTests {
    typealias F = EngineFixtures

    static func lane(
        keys: [MatchingRules.Key] = [.init(fields: ["phone"], normalise: .phone), .init(fields: ["title", "owner"])],
        noMatch: MatchingRules.NoMatch = .create, scope: SyncScope = SyncScope(), create: CreatePolicy = CreatePolicy(),
        account: String? = "acc-tour"
    ) -> SyncSetup.Lane {
        var mapping = F.mapping
        mapping.matching = MatchingRules(keys: keys, noMatch: noMatch)
        mapping.scope = scope
        mapping.create = create
        return .init(
            connector: "tour", decider: RecordDecider(mapping: mapping, crmConnector: "tour", masterConnector: "masterdeal"),
            masterAccount: account)
    }

    static func lead(
        _ id: String, title: String = "Тур", owner: Int64 = 501, phone: String? = nil, status: Int64 = 1, link: String? = nil,
        at seconds: Int64 = 1_000
    ) -> Observation {
        var fields: [String: FieldValue] = ["name": .text(title), "responsible_user_id": .integer(owner), "status": F.stage(status)]
        if let phone { fields["custom_fields.900003"] = .text(phone) }
        return Observation(
            connector: "tour", side: .crm, recordID: id, fields: fields, stamp: SourceStamp(seconds: seconds), linkedMasterID: link,
            isComplete: true)
    }

    static func deal(
        _ id: String, title: String = "Тур", owner: String = "u-olga", phone: String? = nil, stage: String = "lead",
        account: String = "acc-tour", at seconds: Int64 = 1_000
    ) -> Observation {
        var fields: [String: FieldValue] = ["opportunity_name": .text(title), "owner_id": .text(owner), "stage": .text(stage)]
        if let phone { fields["attributes.phone"] = .text(phone) }
        return Observation(
            connector: "masterdeal", side: .master, recordID: id, fields: fields, stamp: SourceStamp(seconds: seconds, version: 3),
            account: account, isComplete: true)
    }

    static func plan(
        _ lane: SyncSetup.Lane = lane(), crm: [Observation], master: [Observation],
        links: [(masterDealID: String?, recordID: String?)] = []
    ) -> OnboardingPlan {
        OnboardingPlanner(lane: lane).plan(crm: crm, master: master, links: links)
    }

    static func pairs(_ plan: OnboardingPlan) -> [String] {
        plan.pairs.map { "\($0.crm.recordID)=\($0.master.recordID) by \($0.match)" }.sorted()
    }

    // MARK: Matching

    @Test func theLinkFieldComesFirstThenEachKeyInOrderWithPhonesComparedAsNumbers() {
        let plan = Self.plan(
            crm: [
                Self.lead("1", phone: "+7 (912) 345-67-89"),  // the same phone as md-b, written another way
                Self.lead("2", title: "Сочи", owner: 502, phone: nil),  // no phone: title + owner decides
                Self.lead("3", phone: "+7 912 000-00-01", link: "md-c"),  // its link field wins over its phone
            ],
            master: [
                Self.deal("md-a", title: "сочи ", owner: "u-ivan"), Self.deal("md-b", phone: "8 912 345 67 89"),
                Self.deal("md-c"), Self.deal("md-d", phone: "89120000001"),
            ])
        #expect(Self.pairs(plan) == ["1=md-b by key phone", "2=md-a by key title + owner", "3=md-c by link field"])
        #expect(plan.linkedByKey == 2 && plan.linkedByLinkField == 1)
        #expect(plan.createInCRM.map(\.recordID) == ["md-d"], "md-d's phone was lead 3's, but lead 3 is linked by its link field")
        #expect(plan.ambiguous.isEmpty && plan.createInMaster.isEmpty)
    }

    @Test func aKeySharedByMoreThanOneRecordOnEitherSideIsReportedAndNeverGuessed() {
        let plan = Self.plan(
            crm: [Self.lead("1", phone: "9120000001"), Self.lead("2", phone: "9120000002"), Self.lead("3", phone: "9120000002")],
            master: [
                Self.deal("md-a", phone: "89120000001"), Self.deal("md-b", phone: "89120000001"), Self.deal("md-c", phone: "79120000002"),
            ])
        #expect(plan.pairs.isEmpty)
        let found = plan.ambiguous.map { "\($0.side):\($0.recordID)->\($0.candidates.joined(separator: ","))" }.sorted()
        #expect(found == ["crm:1->md-a,md-b", "crm:2->md-c", "crm:3->md-c", "master:md-a->1", "master:md-b->1", "master:md-c->2,3"])
        // Ambiguous records are neither created nor tried again by a later key: they are held.
        #expect(plan.createInMaster.isEmpty && plan.createInCRM.isEmpty)
        #expect(plan.holds.count == 6 && plan.holds.allSatisfy { $0.kind == .ambiguous })
        #expect(plan.holds.first { $0.recordID == "1" }?.reason.contains("matches 2 deals by phone (md-a, md-b)") == true)
    }

    @Test func twoRecordsNamingOneDealOrAnUnknownDealAreNotLinked() {
        let plan = Self.plan(
            crm: [
                Self.lead("1", link: "md-a"), Self.lead("2", link: "md-a"), Self.lead("3", link: "md-gone"), Self.lead("4", link: "md-b"),
            ],
            master: [Self.deal("md-a"), Self.deal("md-b")], links: [(masterDealID: "md-b", recordID: "99")])
        #expect(plan.pairs.isEmpty)
        #expect(plan.ambiguous.map(\.recordID).sorted() == ["1", "2", "md-a"])
        #expect(plan.problems.map(\.recordID).sorted() == ["3", "4"])
        #expect(plan.problems.first { $0.recordID == "4" }?.reason.contains("already linked") == true)
    }

    @Test func linkedRecordsOtherAccountsAndRepeatedReadsAreCountedOnce() {
        let plan = Self.plan(
            crm: [Self.lead("1", at: 1_000), Self.lead("1", title: "Новее", at: 2_000), Self.lead("2")],
            master: [Self.deal("md-a"), Self.deal("md-x", account: "acc-other")],
            links: [(masterDealID: "md-a", recordID: "2")])
        #expect(plan.read == [.crm: 2, .master: 1], "a record read twice counts once; another account's deal is not this connector's")
        #expect(plan.alreadyLinked == 1)
        #expect(plan.createInMaster.map { $0.fields["name"] } == [.text("Новее")], "the latest state of a record read twice")
        #expect(plan.createInCRM.isEmpty, "md-a is linked")
    }

    // MARK: Scope and what matches nothing

    @Test func recordsOutsideTheScopeAreNeitherMatchedNorCreated() {
        let plan = Self.plan(
            Self.lane(scope: SyncScope(stages: ["lead", "qualified"])),
            crm: [Self.lead("1", phone: "9120000001", status: 143), Self.lead("2", status: 2)],
            master: [Self.deal("md-a", title: "Другой", phone: "89120000001"), Self.deal("md-b", title: "Другой", stage: "lost")])
        #expect(plan.pairs.isEmpty, "a lost lead is not linked to the open deal with its phone")
        #expect(plan.outOfScope == [.crm: 1, .master: 1])
        #expect(plan.createInMaster.map(\.recordID) == ["2"])
        #expect(plan.createInCRM.map(\.recordID) == ["md-a"])
    }

    @Test func noMatchLeaveAndCreatesTheMappingForbidsLeaveRecordsUnlinkedAndHeld() {
        let leave = Self.plan(Self.lane(noMatch: .leave), crm: [Self.lead("1")], master: [Self.deal("md-a", title: "Другой")])
        #expect(leave.createInMaster.isEmpty && leave.createInCRM.isEmpty)
        #expect(leave.left.map(\.recordID).sorted() == ["1", "md-a"])
        #expect(leave.holds.allSatisfy { $0.kind == .unmatched && $0.reason.contains("no_match: leave") })
        let forbidden = Self.plan(
            Self.lane(create: CreatePolicy(inCRM: false, inMaster: true), account: nil), crm: [Self.lead("1")],
            master: [Self.deal("md-a", title: "Другой")])
        #expect(forbidden.createInMaster.isEmpty && forbidden.createInCRM.isEmpty)
        #expect(
            forbidden.left.map(\.reason).sorted() == [
                "matched no deal; the connector names no MasterDeal account to create it in",
                "matched no record in tour; the mapping says create.in_crm: false",
            ])
    }

    // MARK: Deciding a matched pair

    @Test func aPairsDifferingFieldsAreConflictsDecidedByEachRule() throws {
        var crm = Self.lead("1", title: "Сочи (CRM)", owner: 502, phone: "+79120000001", status: 2, at: 2_000)
        crm.fields["price"] = .integer(90_000)
        var master = Self.deal("md-a", title: "Сочи", owner: "u-olga", phone: "89120000001", stage: "lead", at: 1_000)
        master.fields["amount"] = F.rub("100000")
        let link = LinkSnapshot(linkID: 7, masterDealID: "md-a", recordID: "1")
        let decision = F.decider.onboard(crm: crm, master: master, link: link, cause: "onboard:1")
        let toCRM = try #require(decision.writes.first { $0.side == .crm })
        let toMaster = try #require(decision.writes.first { $0.side == .master })
        // title and owner: lww, the CRM's change is later; amount and stage: MasterDeal's priority; the phone is
        // the CRM's (crm_to_master), and MasterDeal's copy is written differently.
        #expect(toMaster.fields == ["title": .text("Сочи (CRM)"), "owner": .text("u-ivan"), "phone": .text("+79120000001")])
        #expect(toCRM.fields == ["amount": .integer(100_000), "stage": F.stage(1)])
        #expect(toCRM.values["custom_fields.900001"] == .text("md-a"), "the link field is written back with the values")
        let conflicts = decision.entries.filter { $0.kind == .conflict }.map {
            "\($0.field ?? ""):\($0.rule ?? ""):\($0.winner?.rawValue ?? "")"
        }
        #expect(conflicts.sorted() == ["amount:priority:master:master", "owner:lww:crm", "stage:priority:master:master", "title:lww:crm"])
        #expect(decision.fields["title"]?.decided == .text("Сочи (CRM)"))
        #expect(decision.fields["phone"]?.decided == .text("+79120000001"))
    }

    @Test func aPairThatAgreesAndCarriesItsLinkWritesNothing() {
        var crm = Self.lead("1", title: "Сочи", link: "md-a", at: 1_000)
        crm.fields["price"] = .integer(0)
        let decision = F.decider.onboard(
            crm: crm, master: Self.deal("md-a", title: "Сочи", at: 5_000),
            link: LinkSnapshot(linkID: 7, masterDealID: "md-a", recordID: "1"), cause: "onboard:1")
        #expect(decision.writes.isEmpty)
        #expect(decision.entries.isEmpty)
        #expect(decision.fields["title"]?.decided == .text("Сочи"))
    }

    @Test func theLaterRecordWinsALastWriteWinsFieldEitherWayAndATieGoesToMasterDeal() {
        for (crmAt, masterAt, expected) in [(2_000, 1_000, "CRM"), (1_000, 2_000, "MD"), (1_000, 1_000, "MD")] as [(Int64, Int64, String)] {
            let decision = F.decider.onboard(
                crm: Self.lead("1", title: "CRM", at: crmAt), master: Self.deal("md-a", title: "MD", at: masterAt),
                link: LinkSnapshot(linkID: 7, masterDealID: "md-a", recordID: "1"), cause: "c")
            #expect(decision.fields["title"]?.decided == .text(expected), "crm at \(crmAt), MasterDeal at \(masterAt)")
        }
    }

    @Test func theDryRunCountsWhatLinkingThePairsWrites() {
        let planner = OnboardingPlanner(lane: Self.lane())
        let plan = planner.plan(
            crm: [
                Self.lead("1", title: "A (CRM)", phone: "9120000001", at: 2_000),
                Self.lead("2", title: "B", phone: "9120000002", link: "md-b"),
            ],
            master: [Self.deal("md-a", title: "A", phone: "9120000001"), Self.deal("md-b", title: "B", phone: "9120000002")],
            links: [])
        let differences = planner.differences(of: plan)
        #expect(differences.fields.map(\.name) == ["title"])
        #expect(differences.fields.first?.kept == [.crm: 1])
        #expect(differences.writes == [.master: 1, .crm: 1], "lead 1's title to MasterDeal, its link field to the CRM")
        #expect(differences.linkFieldWrites == 1)
        #expect(differences.fields.first?.examples == ["1 ↔ md-a: amoCRM 'A (CRM)' / MasterDeal 'A' → keeps crm"])
    }

    // MARK: Held records in the pipeline

    @Test func aHeldRecordIsNeverCreatedButItsLinkFieldStillLinksIt() throws {
        let setup = SyncSetup(masterConnector: "masterdeal", lanes: [Self.lane()])
        let policy = LinkPolicy(setup: setup, maxAttempts: 12)
        let holds = [
            LinkBook.Hold(connector: "tour", side: .crm, recordID: "1", kind: .ambiguous, reason: "r"),
            LinkBook.Hold(connector: "tour", side: .master, recordID: "md-a", kind: .unmatched, reason: "r"),
        ]
        let book = LinkBook(holds: holds)
        #expect(try policy.actions(for: Self.lead("1"), in: book, attempts: 0).isEmpty)
        #expect(try policy.actions(for: Self.lead("2"), in: book, attempts: 0) == [.createInMaster(connector: "tour")])
        #expect(try policy.actions(for: Self.deal("md-a"), in: book, attempts: 0).isEmpty)
        #expect(try policy.actions(for: Self.deal("md-b"), in: book, attempts: 0) == [.createInCRM(connector: "tour")])
        #expect(
            try policy.actions(for: Self.lead("1", link: "md-a"), in: book, attempts: 0) == [
                .adopt(connector: "tour", masterDealID: "md-a")
            ],
            "a person links it by writing the deal's id into its link field")
    }

    // MARK: Normalisation

    @Test func keysCompareNormalisedText() {
        #expect(MatchingRules.Normalisation.text.apply("  ООО  Ромашка\t") == "ооо ромашка")
        #expect(MatchingRules.Normalisation.phone.apply("+7 (912) 345-67-89") == "9123456789")
        #expect(MatchingRules.Normalisation.phone.apply("8-912-345-67-89") == "9123456789")
        #expect(MatchingRules.Normalisation.phone.apply("+44 20 7946 0958") == "442079460958")
        #expect(MatchingRules.Normalisation.email.apply(" Olga@Example.COM ") == "olga@example.com")
        #expect(MatchingRules.Normalisation.exact.apply(" A ") == " A ")
    }
}
