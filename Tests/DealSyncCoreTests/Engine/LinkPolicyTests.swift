import DealSyncCore
import Testing

/// Which link an observation concerns, and when a link or a record on the other side is made: every branch of
/// the policy, without a database.
struct LinkPolicyTests {
    typealias F = EngineFixtures
    static let maxAttempts = 12

    /// Two CRM connectors: the tour agency (deals of acc-tour) and a second amoCRM account carrying every account.
    static func setup(createInMaster: Bool = true, createInCRM: Bool = true) -> SyncSetup {
        var mapping = F.mapping
        mapping.create = CreatePolicy(inCRM: createInCRM, inMaster: createInMaster)
        return SyncSetup(
            masterConnector: "masterdeal",
            lanes: [
                .init(
                    connector: "tour", decider: RecordDecider(mapping: mapping, crmConnector: "tour", masterConnector: "masterdeal"),
                    masterAccount: "acc-tour"),
                .init(
                    connector: "spare", decider: RecordDecider(mapping: mapping, crmConnector: "spare", masterConnector: "masterdeal"),
                    masterAccount: nil),
            ])
    }

    static func policy(_ setup: SyncSetup = setup()) -> LinkPolicy { LinkPolicy(setup: setup, maxAttempts: maxAttempts) }

    static func deal(account: String = "acc-tour", action: Observation.Action = .upsert, byIntegration: Bool = false) -> Observation {
        var observation = F.master(F.masterRecord, at: 1000, version: 1)
        observation.account = account
        observation.action = action
        observation.byIntegration = byIntegration
        return observation
    }

    static func lead(_ id: String = "9001", master: String? = nil, action: Observation.Action = .upsert) -> Observation {
        var observation = F.crm(F.crmRecord, at: 1000, action: action)
        observation.recordID = id
        observation.linkedMasterID = master
        return observation
    }

    // MARK: MasterDeal deals

    @Test func aNewDealIsCreatedInEveryCRMThatCarriesItsAccount() throws {
        let actions = try Self.policy().actions(for: Self.deal(), in: LinkBook(), attempts: 0)
        #expect(actions == [.createInCRM(connector: "tour"), .createInCRM(connector: "spare")])
        let other = try Self.policy().actions(for: Self.deal(account: "acc-other"), in: LinkBook(), attempts: 0)
        #expect(other == [.createInCRM(connector: "spare")], "the tour agency's CRM carries acc-tour only")
    }

    @Test func aLinkedDealIsDecidedOnItsLinkAndCreatedWhereItIsNotLinked() throws {
        let book = LinkBook(links: [.init(id: 5, connector: "tour", masterDealID: "md-1", recordID: "9001")])
        let actions = try Self.policy().actions(for: Self.deal(), in: book, attempts: 0)
        #expect(actions == [.decide(linkID: 5), .createInCRM(connector: "spare")])
    }

    @Test func noCRMRecordIsMadeWhenTheMappingSaysSoOrTheDealIsGone() throws {
        #expect(try Self.policy(Self.setup(createInCRM: false)).actions(for: Self.deal(), in: LinkBook(), attempts: 0).isEmpty)
        #expect(try Self.policy().actions(for: Self.deal(action: .delete), in: LinkBook(), attempts: 0).isEmpty)
    }

    @Test func aDealDealsyncMadeWaitsForItsLinkThenIsLoggedNotCreatedAgain() throws {
        let waiting = try Self.policy().actions(for: Self.deal(byIntegration: true), in: LinkBook(), attempts: Self.maxAttempts - 1)
        #expect(waiting == [.wait(reason: "waiting for the link of a deal dealsync created")])
        let given = try Self.policy().actions(for: Self.deal(byIntegration: true), in: LinkBook(), attempts: Self.maxAttempts)
        #expect(given.count == 2)
        guard case .problem("tour", "md-1", nil, let reason)? = given.first else {
            Issue.record("expected a logged problem, got \(given)")
            return
        }
        #expect(reason.contains("not created in tour"))
    }

    /// A poll cannot tell who made a deal: one that matches a create dealsync sent and has no answer for yet is
    /// that create's deal until its answer says otherwise; one that does not match is a deal made in MasterDeal.
    @Test func aPolledDealMatchingACreateInFlightWaitsForItsAnswer() throws {
        let create = LinkBook.MasterCreateInFlight(
            linkID: 7, connector: "tour", recordID: "9001", account: "acc-tour", name: .text("Сочи, 7 ночей"))
        let book = LinkBook(masterCreatesInFlight: [create])
        let waiting = try Self.policy().actions(for: Self.deal(), in: book, attempts: Self.maxAttempts - 1)
        #expect(waiting == [.wait(reason: "waiting for the answer of the create dealsync sent for tour record 9001")])
        let given = try Self.policy().actions(for: Self.deal(), in: book, attempts: Self.maxAttempts)
        #expect(given.count == 2)
        #expect(given.allSatisfy { if case .problem = $0 { true } else { false } }, "never created: it may be tour's own deal")

        var renamed = Self.deal()
        renamed.fields["opportunity_name"] = .text("Анапа, 3 ночи")
        #expect(
            try Self.policy().actions(for: renamed, in: book, attempts: 0)
                == [.createInCRM(connector: "tour"), .createInCRM(connector: "spare")],
            "another name: a deal made in MasterDeal")
        #expect(
            try Self.policy().actions(for: Self.deal(account: "acc-other"), in: book, attempts: 0)
                == [.createInCRM(connector: "spare")], "another account: a deal made in MasterDeal")
        let nameless = LinkBook(masterCreatesInFlight: [
            .init(linkID: 7, connector: "tour", recordID: "9001", account: "acc-tour", name: nil)
        ])
        #expect(
            try Self.policy().actions(for: Self.deal(), in: nameless, attempts: 0).first.map { if case .wait = $0 { true } else { false } }
                == true)
    }

    // MARK: CRM records

    @Test func aLinkedRecordIsDecidedOnItsLink() throws {
        let book = LinkBook(links: [.init(id: 5, connector: "tour", masterDealID: "md-1", recordID: "9001")])
        #expect(try Self.policy().actions(for: Self.lead(), in: book, attempts: 0) == [.decide(linkID: 5)])
    }

    @Test func theEchoOfOurCreateTeachesTheLinkItsRecord() throws {
        let book = LinkBook(links: [.init(id: 5, connector: "tour", masterDealID: "md-1", recordID: nil)])
        #expect(try Self.policy().actions(for: Self.lead(master: "md-1"), in: book, attempts: 0) == [.attachRecord(linkID: 5)])
    }

    @Test func aDealAlreadyLinkedToAnotherRecordIsNeverLinkedTwice() throws {
        let book = LinkBook(links: [.init(id: 5, connector: "tour", masterDealID: "md-1", recordID: "9002")])
        let actions = try Self.policy().actions(for: Self.lead(master: "md-1"), in: book, attempts: 0)
        #expect(
            actions == [
                .problem(
                    connector: "tour", masterDealID: "md-1", recordID: "9001",
                    reason: "not linked: deal md-1 is already linked to record 9002")
            ])
    }

    @Test func aRecordCarryingADealIdIsAdopted() throws {
        #expect(
            try Self.policy().actions(for: Self.lead(master: "md-7"), in: LinkBook(), attempts: 0)
                == [.adopt(connector: "tour", masterDealID: "md-7")])
    }

    @Test func aNewRecordIsCreatedInMasterDealWhenTheMappingAllows() throws {
        #expect(try Self.policy().actions(for: Self.lead(), in: LinkBook(), attempts: 0) == [.createInMaster(connector: "tour")])
        #expect(try Self.policy(Self.setup(createInMaster: false)).actions(for: Self.lead(), in: LinkBook(), attempts: 0).isEmpty)
    }

    @Test func aDeleteOfAnUnlinkedRecordWaitsForALinkBeingMadeThenIsDropped() throws {
        let early = try Self.policy().actions(for: Self.lead(action: .delete), in: LinkBook(), attempts: 0)
        #expect(early == [.wait(reason: "waiting for the link of a record dealsync created")])
        #expect(try Self.policy().actions(for: Self.lead(action: .delete), in: LinkBook(), attempts: Self.maxAttempts).isEmpty)
    }

    @Test func aRecordOfAnUnknownConnectorIsRefused() {
        var observation = Self.lead()
        observation.connector = "nowhere"
        #expect(throws: LinkPolicy.UnknownConnector.self) { try Self.policy().actions(for: observation, in: LinkBook(), attempts: 0) }
    }
}
