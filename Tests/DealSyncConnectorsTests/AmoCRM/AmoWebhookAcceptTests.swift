import Crypto
import DealSyncConnectors
import DealSyncCore
import Foundation
import Testing

/// `accept`: the URL secret, and the dedupe key the inbox stores a webhook under.
struct AmoWebhookAcceptTests {
    let connector: AmoCRMConnector

    init() throws {
        connector = try AmoFixture.offlineConnector()
    }

    func request(_ body: String, secret: String? = AmoFixture.webhookSecret, headers: [String: String] = [:]) -> WebhookRequest {
        WebhookRequest(pathSecret: secret, headers: headers, body: Data(body.utf8))
    }

    /// An update of one lead at a fixed `last_modified`.
    static func edit(price: Int) -> String {
        AmoWebhookFixtures.form(AmoWebhookFixtures.updatePairs(id: "24180051", name: "Лыжи", price: price, lastModified: 1_767_226_000))
    }

    static let wrongSecrets: [String?] = [
        nil, "", "amo-hook-secret-5d1f0c7", "amo-hook-secret-5d1f0c7e0", "AMO-HOOK-SECRET-5D1F0C7E",
        "amo-hook-secret-5d1f0c7f", "xmo-hook-secret-5d1f0c7e", "amo-hook-secret-5d1f0c7e ",
    ]

    @Test(arguments: wrongSecrets)
    func aWrongOrMissingSecretIsNotFound(_ secret: String?) throws {
        let rejection = try #require(throws: WebhookRejection.self) {
            try connector.accept(request(AmoWebhookFixtures.statusAndUpdates, secret: secret))
        }
        #expect(rejection.kind == .notFound)
        #expect(rejection.statusCode == 404)
        #expect(!rejection.description.contains(AmoFixture.webhookSecret), "the secret is never echoed")
    }

    @Test func theSecretIsCheckedBeforeTheBody() throws {
        let rejection = try #require(throws: WebhookRejection.self) { try connector.accept(request("not a form at all", secret: "guess")) }
        #expect(rejection.kind == .notFound, "a stranger learns nothing about the body format")
    }

    @Test func theAmoRequestIDIsTheDedupeKeyWhenPresent() throws {
        let id = "9c0e8f5a-4b1d-4e2a-8f3c-6d7e1a2b3c4d"
        let item = try connector.accept(
            request(
                AmoWebhookFixtures.statusAndUpdates,
                headers: ["X-Amocrm-Requestid": id, "User-Agent": "amoCRM-Webhooks/3.0"]))
        #expect(item.dedupeKey == "request:\(id)")
        #expect(item.headers["user-agent"] == "amoCRM-Webhooks/3.0")
        #expect(item.contentType == "application/x-www-form-urlencoded")
        let lowerCase = try connector.accept(request(AmoWebhookFixtures.automation, headers: ["x-amocrm-requestid": id]))
        #expect(lowerCase.dedupeKey == "request:\(id)", "header names are case-insensitive")
        let empty = try connector.accept(request(AmoWebhookFixtures.automation, headers: ["X-Amocrm-Requestid": ""]))
        #expect(empty.dedupeKey.hasPrefix("hook:"), "an empty request id falls back to the content hash")
    }

    @Test func withoutARequestIDTheKeyIsAContentHash() throws {
        let bodies = [
            AmoWebhookFixtures.statusAndUpdates,
            AmoWebhookFixtures.addDeleteResponsibleRestore,
            AmoWebhookFixtures.automation,
            Self.edit(price: 120_000),
        ]
        var keys: [String] = []
        for body in bodies {
            let first = try connector.accept(request(body))
            let again = try connector.accept(request(body))
            #expect(first.dedupeKey == again.dedupeKey, "a redelivery of the same body is the same item")
            #expect(first.dedupeKey.hasPrefix("hook:"))
            keys.append(first.dedupeKey)
        }
        #expect(Set(keys).count == bodies.count, "different bodies, different keys")
    }

    /// The content hash is the one stored keys were made with (sorted pairs, SHA-256, 16 bytes in hex), whatever
    /// order the pairs come in: a redelivery across an upgrade is still a duplicate.
    @Test func theContentHashIsStableAndIgnoresPairOrder() throws {
        for body in [AmoWebhookFixtures.statusAndUpdates, AmoWebhookFixtures.addDeleteResponsibleRestore, AmoWebhookFixtures.automation] {
            let pairs = body.split(separator: "&", omittingEmptySubsequences: true).sorted()
            let digest = SHA256.hash(data: Data(pairs.joined(separator: "&").utf8))
            let before = "hook:" + digest.prefix(16).map { String(format: "%02x", $0) }.joined()
            #expect(try connector.accept(request(body)).dedupeKey == before)
            let shuffled = body.split(separator: "&").reversed().joined(separator: "&")
            #expect(try connector.accept(request(shuffled)).dedupeKey == before)
        }
    }

    /// Two edits of one lead within one second carry the same `last_modified`; they are still two webhooks.
    @Test func twoEditsOfOneLeadInOneSecondAreTwoItems() throws {
        let first = try connector.accept(request(Self.edit(price: 120_000)))
        let second = try connector.accept(request(Self.edit(price: 125_000)))
        #expect(first.dedupeKey != second.dedupeKey)
    }

    /// Automation hooks carry no time: two moves of one lead differ only in their statuses.
    @Test func twoAutomationHooksForOneLeadAreTwoItems() throws {
        func hook(from old: Int, to new: Int) -> String {
            AmoWebhookFixtures.form([
                ("leads[status][0][id]", "24180011"), ("leads[status][0][status_id]", String(new)),
                ("leads[status][0][pipeline_id]", "7001000"), ("leads[status][0][old_status_id]", String(old)),
                ("leads[status][0][old_pipeline_id]", "7001000"), ("account[id]", "31415926"), ("account[subdomain]", "touragency"),
            ])
        }
        let moved = try connector.accept(request(hook(from: 7_001_001, to: 7_001_002)))
        let movedAgain = try connector.accept(request(hook(from: 7_001_002, to: 7_001_004)))
        #expect(moved.dedupeKey != movedAgain.dedupeKey)
    }
}
