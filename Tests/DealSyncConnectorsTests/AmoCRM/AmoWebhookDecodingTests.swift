import DealSyncConnectors
import DealSyncCore
import Foundation
import Testing

/// `accept` then `decode` on webhook bodies written as amoCRM sends them (see ``AmoWebhookFixtures``).
struct AmoWebhookDecodingTests {
    let connector: AmoCRMConnector

    init() throws {
        connector = try AmoFixture.offlineConnector()
    }

    func accept(_ body: String) throws(WebhookRejection) -> InboxItem {
        try connector.accept(
            WebhookRequest(
                pathSecret: AmoFixture.webhookSecret,
                headers: ["Content-Type": "application/x-www-form-urlencoded", "User-Agent": "amoCRM-Webhooks/3.0"],
                body: Data(body.utf8)))
    }

    func decode(_ body: String) throws -> DecodeOutcome {
        let item = try accept(body)
        #expect(item.source == .webhook)
        #expect(item.connector == AmoFixture.connectorID)
        #expect(item.body == Data(body.utf8), "the body is stored as received")
        return try connector.decodeStored(item)
    }

    static let leadAFields: [String: FieldValue] = [
        "name": .text("Тур в Сочи, 7 ночей"), "price": .integer(150_000), "status": .text("7001000:7001004"),
        "responsible_user_id": .text("6001001"),
        "custom_fields.900004": .text("501"),  // the select's enum id, not its label
        "custom_fields.900002": .text("1767312000"),  // the bare date form
        "custom_fields.900005": .text("4"),
        "custom_fields.900003": .text("+7 (912) 345-67-89"),
    ]

    @Test func updatesAndAStatusChangeOfTwoLeadsInOnePercentEncodedPost() throws {
        let observations = try #require(try decode(AmoWebhookFixtures.statusAndUpdates).observations)
        #expect(observations.count == 3, "update of A, status of A, update of B")
        let leadA = observations.filter { $0.recordID == AmoWebhookFixtures.leadA }
        #expect(leadA.count == 2)
        for observation in leadA {
            #expect(observation.connector == AmoFixture.connectorID)
            #expect(observation.side == .crm)
            #expect(observation.action == .upsert)
            #expect(observation.fields == Self.leadAFields)
            #expect(observation.fields["custom_fields.900001"] == nil, "the link field is not a field")
            #expect(observation.linkedMasterID == "md-7f3a")
            #expect(observation.stamp == SourceStamp(seconds: 1_767_225_600))
            #expect(observation.isComplete)
            #expect(!observation.byIntegration, "modified_user_id 6001002 is a salesperson")
        }
        let leadB = try #require(observations.first { $0.recordID == AmoWebhookFixtures.leadB })
        #expect(
            leadB.fields == [
                "name": .text("Семья Ивановых"), "price": .integer(0), "status": .text("7001000:7001002"),
                "responsible_user_id": .text("6001002"),
            ])
        #expect(leadB.byIntegration, "modified_user_id=0 marks an API write (our own echo)")
        #expect(leadB.linkedMasterID == nil)
        #expect(leadB.isComplete)
        #expect(leadB.stamp == SourceStamp(seconds: 1_767_225_601))
    }

    @Test func addResponsibleDeleteAndRestoreWithRawBracketsInOnePost() throws {
        let observations = try #require(try decode(AmoWebhookFixtures.addDeleteResponsibleRestore).observations)
        #expect(observations.count == 4)
        let added = try #require(observations.first { $0.recordID == "24180021" })
        #expect(added.action == .upsert)
        #expect(
            added.fields == [
                "name": .text("Новая заявка: Египет"), "price": .integer(0), "status": .text("7001000:7001001"),
                "responsible_user_id": .text("6001003"),
            ])
        #expect(added.isComplete)
        #expect(added.stamp == SourceStamp(seconds: 1_767_225_700))

        let reassigned = try #require(observations.first { $0.recordID == "24180011" })
        #expect(reassigned.action == .upsert)
        #expect(reassigned.fields["responsible_user_id"] == .text("6001002"), "the new owner, not old_responsible_user_id")
        #expect(reassigned.fields["old_responsible_user_id"] == nil)
        #expect(reassigned.stamp == SourceStamp(seconds: 1_767_225_800))

        let deleted = try #require(observations.first { $0.recordID == "24180031" })
        #expect(deleted.action == .delete)
        #expect(deleted.fields.isEmpty, "a delete carries only id, status and pipeline")
        #expect(!deleted.isComplete)
        #expect(deleted.linkedMasterID == nil)

        let restored = try #require(observations.first { $0.recordID == "24180041" })
        #expect(restored.action == .restore)
        #expect(
            restored.fields == [
                "name": .text("Горнолыжный тур"), "price": .integer(99_000), "status": .text("7001000:7001003"),
                "responsible_user_id": .text("6001001"), "custom_fields.900004": .text("502"),
            ])
        #expect(restored.isComplete)
    }

    @Test func keyOrderAndBracketEscapingDoNotChangeWhatIsDecoded() throws {
        let pairs = AmoWebhookFixtures.updatePairs(
            id: "24180051", name: "Лыжи, Шерегеш", price: 120_000,
            lastModified: 1_767_226_000)
        let orders = [pairs, pairs.reversed(), pairs.enumerated().sorted { ($0.offset * 7) % 13 < ($1.offset * 7) % 13 }.map(\.element)]
        var decoded: [[Observation]] = []
        for order in orders {
            for raw in [false, true] {
                decoded.append(try #require(try decode(AmoWebhookFixtures.form(order, rawBrackets: raw)).observations))
            }
        }
        let first = try #require(decoded.first?.first)
        #expect(
            first.fields == [
                "name": .text("Лыжи, Шерегеш"), "price": .integer(120_000), "status": .text("7001000:7001002"),
                "responsible_user_id": .text("6001001"), "custom_fields.900004": .text("502"),
            ])
        for observations in decoded { #expect(observations == [first]) }
    }

    @Test func theAutomationShortFormAsksForAFetchNotAnObservation() throws {
        let outcome = try decode(AmoWebhookFixtures.automation)
        #expect(outcome.observations == nil, "the short form holds no lead data to decide on")
        let requests = try #require(outcome.fetchRequests)
        #expect(
            Set(requests) == [
                FetchRequest(connector: AmoFixture.connectorID, recordID: AmoWebhookFixtures.leadA),
                FetchRequest(connector: AmoFixture.connectorID, recordID: AmoWebhookFixtures.leadB),
            ])
    }

    @Test func anEmptyLinkFieldLinksNothing() throws {
        var pairs = AmoWebhookFixtures.updatePairs(id: "24180061", name: "Без ссылки", price: 1, lastModified: 1_767_226_100)
        pairs += [("leads[update][0][custom_fields][1][id]", "900001"), ("leads[update][0][custom_fields][1][values][0][value]", "")]
        let observation = try #require(try decode(AmoWebhookFixtures.form(pairs)).observations?.first)
        #expect(observation.linkedMasterID == nil)
        #expect(observation.fields["custom_fields.900001"] == nil)
    }

    static let malformed: [(String, String)] = [
        ("JSON instead of a form", #"{"leads":{"update":[{"id":"24180011","name":"x"}]}}"#),
        ("a broken percent escape", "leads%5Bupdate%5D%5B0%5D%5Bid%5D=24180011&leads%5Bupdate%5D%5B0%5D%5Bname%5D=%D0%ZZ"),
        ("an empty body", ""),
        ("no leads[...]", "account%5Bid%5D=31415926&account%5Bsubdomain%5D=touragency"),
        ("an unknown action only", "leads%5Bnote%5D%5B0%5D%5Bid%5D=24180011&account%5Bid%5D=31415926"),
        ("an entry without an id", "leads%5Bupdate%5D%5B0%5D%5Bname%5D=x&leads%5Bupdate%5D%5B0%5D%5Blast_modified%5D=1767225600"),
        (
            "a non-numeric id",
            "leads%5Bupdate%5D%5B0%5D%5Bid%5D=abc&leads%5Bupdate%5D%5B0%5D%5Bname%5D=x&leads%5Bupdate%5D%5B0%5D%5Blast_modified%5D=1"
        ),
        ("a delete without an id", "leads%5Bdelete%5D%5B0%5D%5Bstatus_id%5D=143&leads%5Bdelete%5D%5B0%5D%5Bpipeline_id%5D=7001000"),
        (
            "one good entry and one without an id",
            "leads%5Bupdate%5D%5B0%5D%5Bid%5D=24180011&leads%5Bupdate%5D%5B0%5D%5Bname%5D=x&leads%5Bupdate%5D%5B0%5D%5Blast_modified%5D=1"
                + "&leads%5Bupdate%5D%5B1%5D%5Bname%5D=y&leads%5Bupdate%5D%5B1%5D%5Blast_modified%5D=1"
        ),
        ("an entry that is a string", "leads%5Bupdate%5D%5B0%5D=24180011"),
    ]

    @Test(arguments: malformed.indices)
    func malformedBodiesAreRejectedAsMalformed(_ index: Int) throws {
        let (what, body) = Self.malformed[index]
        let rejection = try #require(throws: WebhookRejection.self, "\(what)") { try accept(body) }
        #expect(rejection.kind == .malformed, "\(what)")
        #expect(rejection.statusCode == 400)
    }

    @Test func bytesThatAreNotUTF8AreMalformed() throws {
        let request = WebhookRequest(pathSecret: AmoFixture.webhookSecret, headers: [:], body: Data([0xFF, 0xFE, 0x3D, 0x00, 0xC3]))
        let rejection = try #require(throws: WebhookRejection.self) { try connector.accept(request) }
        #expect(rejection.kind == .malformed)
    }
}
