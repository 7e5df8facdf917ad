import DealSyncCore
import Foundation
import Testing

@testable import DealSyncSimulators

/// What the simulators put on the wire at each seam the connectors read, against bodies written here by hand from
/// the vendors' formats (PHP's `http_build_query`, MasterDeal's JSON), not produced by any encoder of this project.
struct GoldenBodyTests {
    typealias Default = AmoCRMSimulator.Configuration.Default

    // MARK: amoCRM webhook

    static let amoLead = AmoLead(
        id: 24_180_011, name: "Сочи ~ 7 ночей (семья)", price: 150_000, responsibleUserID: Default.salesAnna, groupID: 372_001,
        statusID: Default.newRequest, pipelineID: Default.toursPipeline, lossReasonID: nil, createdBy: Default.salesAnna,
        updatedBy: 0, createdAt: 1_767_139_200, updatedAt: 1_767_225_600, closedAt: nil, closestTaskAt: nil, isDeleted: false,
        customFields: [
            AmoFieldValue(fieldID: Default.destinationField, values: [.init(value: "Турция", enumID: Default.destinationTurkey)]),
            AmoFieldValue(fieldID: Default.departureDateField, values: [.init(value: "1767312000")]),
            AmoFieldValue(fieldID: Default.travellersField, values: [.init(value: "4")]),
        ],
        tags: [AmoTag(id: 480_011, name: "горящий"), AmoTag(id: 480_012, name: "VIP")], score: nil, laborCost: nil)

    /// Every pair of the `add` webhook for ``amoLead``, percent-encoded as PHP's `urlencode` does (`~` too).
    static let amoAddPairs = [
        "leads%5Badd%5D%5B0%5D%5Bid%5D=24180011",
        "leads%5Badd%5D%5B0%5D%5Bname%5D=%D0%A1%D0%BE%D1%87%D0%B8+%7E+7+%D0%BD%D0%BE%D1%87%D0%B5%D0%B9+%28%D1%81%D0%B5%D0%BC%D1%8C%D1%8F%29",
        "leads%5Badd%5D%5B0%5D%5Bstatus_id%5D=61200002",
        "leads%5Badd%5D%5B0%5D%5Bprice%5D=150000",
        "leads%5Badd%5D%5B0%5D%5Bresponsible_user_id%5D=9100002",
        "leads%5Badd%5D%5B0%5D%5Blast_modified%5D=1767225600",
        "leads%5Badd%5D%5B0%5D%5Bmodified_user_id%5D=0",
        "leads%5Badd%5D%5B0%5D%5Bcreated_user_id%5D=9100002",
        "leads%5Badd%5D%5B0%5D%5Bdate_create%5D=1767139200",
        "leads%5Badd%5D%5B0%5D%5Bpipeline_id%5D=7310001",
        "leads%5Badd%5D%5B0%5D%5Baccount_id%5D=31415926",
        "leads%5Badd%5D%5B0%5D%5Bcreated_at%5D=1767139200",
        "leads%5Badd%5D%5B0%5D%5Bupdated_at%5D=1767225600",
        "leads%5Badd%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bid%5D=880004",
        "leads%5Badd%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bname%5D=%D0%9D%D0%B0%D0%BF%D1%80%D0%B0%D0%B2%D0%BB%D0%B5%D0%BD%D0%B8%D0%B5",
        "leads%5Badd%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bvalues%5D%5B0%5D%5Bvalue%5D=%D0%A2%D1%83%D1%80%D1%86%D0%B8%D1%8F",
        "leads%5Badd%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bvalues%5D%5B0%5D%5Benum%5D=1450001",
        "leads%5Badd%5D%5B0%5D%5Bcustom_fields%5D%5B1%5D%5Bid%5D=880003",
        "leads%5Badd%5D%5B0%5D%5Bcustom_fields%5D%5B1%5D%5Bname%5D=%D0%94%D0%B0%D1%82%D0%B0+%D0%B2%D1%8B%D0%BB%D0%B5%D1%82%D0%B0",
        "leads%5Badd%5D%5B0%5D%5Bcustom_fields%5D%5B1%5D%5Bvalues%5D%5B0%5D=1767312000",
        "leads%5Badd%5D%5B0%5D%5Bcustom_fields%5D%5B2%5D%5Bid%5D=880002",
        "leads%5Badd%5D%5B0%5D%5Bcustom_fields%5D%5B2%5D%5Bname%5D=%D0%A2%D1%83%D1%80%D0%B8%D1%81%D1%82%D0%BE%D0%B2",
        "leads%5Badd%5D%5B0%5D%5Bcustom_fields%5D%5B2%5D%5Bvalues%5D%5B0%5D%5Bvalue%5D=4",
        "leads%5Badd%5D%5B0%5D%5Btags%5D%5B0%5D%5Bid%5D=480011",
        "leads%5Badd%5D%5B0%5D%5Btags%5D%5B0%5D%5Bname%5D=%D0%B3%D0%BE%D1%80%D1%8F%D1%89%D0%B8%D0%B9",
        "leads%5Badd%5D%5B0%5D%5Btags%5D%5B1%5D%5Bid%5D=480012",
        "leads%5Badd%5D%5B0%5D%5Btags%5D%5B1%5D%5Bname%5D=VIP",
        "account%5Bsubdomain%5D=sunrisetours",
        "account%5Bid%5D=31415926",
        "account%5B_links%5D%5Bself%5D=https%3A%2F%2Fsunrisetours.amocrm.ru",
    ]

    /// Field order varies between deliveries (as at amoCRM), so the pairs are compared as a set; each pair's bytes
    /// must match exactly, and the custom fields' pairs and the tags' pairs each stay together.
    @Test func anAmoCRMAddWebhookIsThePHPFormWrittenByHand() throws {
        let catalog = AmoCatalog(AmoCRMSimulator.Configuration())
        for seed: UInt64 in [1, 2, 3] {
            var random = SplitMix64(seed: seed)
            let body = try #require(
                AmoWebhookForm.body(
                    for: [.added(Self.amoLead)], settings: ["add_lead"], catalog: catalog,
                    random: &random))
            let pairs = body.split(separator: "&").map(String.init)
            #expect(pairs.sorted() == Self.amoAddPairs.sorted(), "seed \(seed): \(body)")
            for list in ["custom_fields", "tags"] {
                let listPairs = pairs.filter { $0.contains("%5B\(list)%5D") }
                let first = try #require(listPairs.first.flatMap(pairs.firstIndex(of:)), "\(list) are sent")
                #expect(Array(pairs[first..<first + listPairs.count]) == listPairs, "\(list) stay together")
            }
        }
    }

    // MARK: Bitrix24 events

    static let bitrixPortal = BitrixEventForm.Portal(
        domain: "fitcoach.bitrix24.ru", clientEndpoint: "https://fitcoach.bitrix24.ru/rest/",
        memberID: "6a1f0e3c9b27d84f5e2a7c19d03b8e64", applicationToken: "q8m3v1x7c2n9b5z4k6j0h2g8f1d7s3a5")

    static func bitrixChange(_ kind: BitrixDealChange.Kind) -> BitrixDealChange {
        var deal = BitrixDeal(id: 134_806, categoryID: 2, stageID: "C2:NEW", semantic: "P", currency: "RUB", actor: 12, now: 0)
        deal.title = "x"
        return BitrixDealChange(kind: kind, deal: deal, actor: 12, byAutomation: false)
    }

    @Test func aBitrix24OutgoingWebhookEventIsTheFormWrittenByHand() {
        let body = BitrixEventForm.body(
            for: Self.bitrixChange(.updated), to: .outgoingWebhook, portal: Self.bitrixPortal, ts: 1_727_018_926)
        #expect(
            body == "event=ONCRMDEALUPDATE&data%5BFIELDS%5D%5BID%5D=134806&ts=1727018926"
                + "&auth%5Bdomain%5D=fitcoach.bitrix24.ru&auth%5Bclient_endpoint%5D=https%3A%2F%2Ffitcoach.bitrix24.ru%2Frest%2F"
                + "&auth%5Bserver_endpoint%5D=https%3A%2F%2Foauth.bitrix.info%2Frest%2F&auth%5Bmember_id%5D=6a1f0e3c9b27d84f5e2a7c19d03b8e64"
                + "&auth%5Bapplication_token%5D=q8m3v1x7c2n9b5z4k6j0h2g8f1d7s3a5")
    }

    @Test func aBitrix24ApplicationEventIsTheFormWrittenByHand() {
        let tokens = BitrixEventForm.AppTokens(
            accessToken: "s6p6eclrvim6da22", expiresAt: 1_727_022_526, expiresIn: 3600,
            scope: "crm,user", userID: 12)
        let body = BitrixEventForm.body(
            for: Self.bitrixChange(.movedToCategory), to: .application(handlerID: 201, tokens: tokens),
            portal: Self.bitrixPortal, ts: 1_727_018_926)
        #expect(
            body == "event=ONCRMDEALMOVETOCATEGORY&event_handler_id=201&data%5BFIELDS%5D%5BID%5D=134806"
                + "&data%5BFIELDS%5D%5BCATEGORY_ID%5D=2&data%5BFIELDS%5D%5BSTAGE_ID%5D=C2%3ANEW&ts=1727018926"
                + "&auth%5Baccess_token%5D=s6p6eclrvim6da22&auth%5Bexpires%5D=1727022526&auth%5Bexpires_in%5D=3600"
                + "&auth%5Bscope%5D=crm%2Cuser&auth%5Bdomain%5D=fitcoach.bitrix24.ru"
                + "&auth%5Bserver_endpoint%5D=https%3A%2F%2Foauth.bitrix.info%2Frest%2F&auth%5Bstatus%5D=L"
                + "&auth%5Bclient_endpoint%5D=https%3A%2F%2Ffitcoach.bitrix24.ru%2Frest%2F&auth%5Bmember_id%5D=6a1f0e3c9b27d84f5e2a7c19d03b8e64"
                + "&auth%5Buser_id%5D=12&auth%5Bapplication_token%5D=q8m3v1x7c2n9b5z4k6j0h2g8f1d7s3a5")
    }

    // MARK: MasterDeal event

    /// A deal written with an amount of one fraction digit and times in other offsets, then a `StageChanged` about it.
    @Test func aMasterDealEventIsTheJSONWrittenByHand() throws {
        let seed = try MasterDealSimulator.JSONValue.parse(
            Data(
                """
                {"id":"md-0000002a","account_id":"acc-tour","opportunity_name":"Сочи/Адлер","stage":"proposal","amount":"150000.5",
                 "currency":"RUB","owner_id":"u-anna","sla_due_at":"2026-11-30T18:00:00+03:00","created_at":"2026-11-23T05:13:20+03:00",
                 "updated_at":"2026-11-23T10:00:00.123Z","version":3,"attributes":{"tour_type":"beach"}}
                """.utf8))
        let deal = try MasterDealSimulator.Deal(seed: seed, now: 0)
        let event = MasterDealSimulator.Event(
            id: "5b0d8c1e-3f2a-4c6b-9e7d-1a2b3c4d5e6f", type: .stageChanged, occurredAt: 1_795_428_000_123, source: "masterdeal-ui",
            deal: deal, previousStage: "qualified")
        #expect(
            event.json.text == """
                {"deal":{"account_id":"acc-tour","amount":"150000.50","attributes":{"tour_type":"beach"},\
                "created_at":"2026-11-23T02:13:20.000Z","currency":"RUB","id":"md-0000002a","opportunity_name":"Сочи/Адлер",\
                "owner_id":"u-anna","sla_due_at":"2026-11-30T18:00:00+03:00","stage":"proposal",\
                "updated_at":"2026-11-23T10:00:00.123Z","version":3},"event_id":"5b0d8c1e-3f2a-4c6b-9e7d-1a2b3c4d5e6f",\
                "occurred_at":"2026-11-23T10:00:00.123Z","previous_stage":"qualified","source":"masterdeal-ui",\
                "type":"StageChanged","version":3}
                """)
    }
}
