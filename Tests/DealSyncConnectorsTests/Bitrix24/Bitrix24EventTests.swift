import DealSyncConnectors
import DealSyncCore
import Foundation
import Testing

/// Bitrix24 events: id-only form bodies checked by application token, member id and domain.
struct Bitrix24EventTests {
    typealias F = BitrixConnectorFixture

    static func body(
        event: String = "ONCRMDEALUPDATE", id: String = "134806", token: String = F.token,
        member: String = "6a1f0e3c9b27d84f5e2a7c19d03b8e64", domain: String = "fitcoach.bitrix24.ru"
    ) -> Data {
        // Written the way Bitrix24 posts it: form-urlencoded, brackets escaped, keys in its order.
        let pairs = [
            ("event", event), ("event_handler_id", "58"), ("data[FIELDS][ID]", id), ("ts", "1727018926"),
            ("auth[domain]", domain), ("auth[client_endpoint]", "https://\(domain)/rest/"),
            ("auth[server_endpoint]", "https://oauth.bitrix.info/rest/"), ("auth[member_id]", member),
            ("auth[application_token]", token),
        ]
        return Data(PHPForm.encode(pairs).utf8)
    }

    @Test func aGenuineDealEventIsStoredAndDecodesToAFetch() throws {
        let connector = try F.connector(url: "http://127.0.0.1:9")
        let item = try connector.accept(WebhookRequest(headers: ["content-type": "application/x-www-form-urlencoded"], body: Self.body()))
        #expect(item.dedupeKey == "event:ONCRMDEALUPDATE:134806:1727018926")
        #expect(item.source == .webhook)
        let outcome = try connector.decode(InboxRow(id: 1, item: item))
        guard case .fetch(let requests) = outcome else {
            Issue.record("an id-only event must ask for a fetch, got \(outcome)")
            return
        }
        #expect(requests == [FetchRequest(connector: "fitness", recordID: "134806")])
    }

    @Test(arguments: ["ONCRMDEALADD", "ONCRMDEALUPDATE", "ONCRMDEALMOVETOCATEGORY"])
    func everyRecordedEventAsksForTheDeal(event: String) throws {
        let connector = try F.connector(url: "http://127.0.0.1:9")
        let item = try connector.accept(WebhookRequest(headers: [:], body: Self.body(event: event)))
        guard case .fetch = try connector.decode(InboxRow(id: 1, item: item)) else {
            Issue.record("\(event) must ask for a fetch")
            return
        }
    }

    @Test func aDeleteNeedsNoFetch() throws {
        let connector = try F.connector(url: "http://127.0.0.1:9")
        let item = try connector.accept(WebhookRequest(headers: [:], body: Self.body(event: "ONCRMDEALDELETE")))
        guard case .observations(let observations) = try connector.decode(InboxRow(id: 1, item: item)) else {
            Issue.record("a delete decodes to an observation")
            return
        }
        #expect(observations.map(\.action) == [.delete])
        #expect(observations.first?.recordID == "134806")
        #expect(observations.first?.stamp == SourceStamp(seconds: 1_727_018_926))
    }

    @Test func otherEventsAreAcknowledgedButNotStored() throws {
        let connector = try F.connector(url: "http://127.0.0.1:9")
        #expect(throws: WebhookRejection(.ignored, "event ONCRMCONTACTADD is not synced")) {
            try connector.accept(WebhookRequest(headers: [:], body: Self.body(event: "ONCRMCONTACTADD")))
        }
    }

    @Test func aWrongTokenMemberOrDomainIsUnauthorized() throws {
        let connector = try F.connector(url: "http://127.0.0.1:9")
        for body in [
            Self.body(token: "forged-token"), Self.body(token: String(F.token.dropLast())), Self.body(member: "0"),
            Self.body(domain: "evil.bitrix24.ru"),
        ] {
            let rejection = #expect(throws: WebhookRejection.self) { try connector.accept(WebhookRequest(headers: [:], body: body)) }
            #expect(rejection?.kind == .unauthorized)
        }
        let missing = Data("event=ONCRMDEALUPDATE&data[FIELDS][ID]=1".utf8)
        #expect(throws: WebhookRejection.self) { try connector.accept(WebhookRequest(headers: [:], body: missing)) }
    }

    @Test func malformedBodiesAreRejected() throws {
        let connector = try F.connector(url: "http://127.0.0.1:9")
        let noID = Data(
            PHPForm.encode([
                ("event", "ONCRMDEALUPDATE"), ("auth[application_token]", F.token),
                ("auth[member_id]", "6a1f0e3c9b27d84f5e2a7c19d03b8e64"), ("auth[domain]", "fitcoach.bitrix24.ru"),
            ]).utf8)
        #expect(throws: WebhookRejection(.malformed, "no numeric data[FIELDS][ID]")) {
            try connector.accept(WebhookRequest(headers: [:], body: noID))
        }
        #expect(throws: WebhookRejection.self) { try connector.accept(WebhookRequest(headers: [:], body: Data("a=%zz".utf8))) }
    }

    /// An outgoing webhook's event (set up in the portal's UI): no `event_handler_id`, the portal's identity only.
    static let outgoingWebhookEvent =
        "event=ONCRMDEALUPDATE&data%5BFIELDS%5D%5BID%5D=134806&ts=1727018926"
        + "&auth%5Bdomain%5D=fitcoach.bitrix24.ru&auth%5Bclient_endpoint%5D=https%3A%2F%2Ffitcoach.bitrix24.ru%2Frest%2F"
        + "&auth%5Bserver_endpoint%5D=https%3A%2F%2Foauth.bitrix.info%2Frest%2F&auth%5Bmember_id%5D=6a1f0e3c9b27d84f5e2a7c19d03b8e64"
        + "&auth%5Bapplication_token%5D=q8m3v1x7c2n9b5z4k6j0h2g8f1d7s3a5"

    /// An application's event: `event_handler_id`, an access token, and no refresh token.
    static let applicationEvent =
        "event=ONCRMDEALADD&event_handler_id=201&data%5BFIELDS%5D%5BID%5D=6641&ts=1735374081"
        + "&auth%5Baccess_token%5D=s6p6eclrvim6da22&auth%5Bexpires%5D=1735377681&auth%5Bexpires_in%5D=3600&auth%5Bscope%5D=crm"
        + "&auth%5Bdomain%5D=fitcoach.bitrix24.ru&auth%5Bserver_endpoint%5D=https%3A%2F%2Foauth.bitrix.info%2Frest%2F"
        + "&auth%5Bstatus%5D=L&auth%5Bclient_endpoint%5D=https%3A%2F%2Ffitcoach.bitrix24.ru%2Frest%2F"
        + "&auth%5Bmember_id%5D=6a1f0e3c9b27d84f5e2a7c19d03b8e64&auth%5Buser_id%5D=12"
        + "&auth%5Bapplication_token%5D=q8m3v1x7c2n9b5z4k6j0h2g8f1d7s3a5"

    @Test(arguments: [(outgoingWebhookEvent, "134806"), (applicationEvent, "6641")])
    func bothEventFormsAreAcceptedAndAskForTheDeal(body: String, id: String) throws {
        let connector = try F.connector(url: "http://127.0.0.1:9")
        let item = try connector.accept(
            WebhookRequest(headers: ["content-type": "application/x-www-form-urlencoded"], body: Data(body.utf8)))
        // Stored as received, but for the credentials it carries: the application token and an access token are blanked.
        let blanked = body.replacingOccurrences(of: F.token, with: "").replacingOccurrences(of: "s6p6eclrvim6da22", with: "")
        #expect(String(decoding: item.body, as: UTF8.self) == blanked, "stored as received, credentials blanked")
        guard case .fetch(let requests) = try connector.decode(InboxRow(id: 1, item: item)) else {
            Issue.record("an id-only event asks for the deal")
            return
        }
        #expect(requests == [FetchRequest(connector: "fitness", recordID: id)])
    }
}

/// The credentials an event carries are checked, then blanked in the body that is stored.
struct Bitrix24EventCredentialTests {
    typealias F = BitrixConnectorFixture

    @Test func theStoredBodyHoldsNoCredentialAndStillDecodes() throws {
        let connector = try F.connector(url: "http://127.0.0.1:9")
        var pairs = PHPForm.flatten(try PHPForm.parse(bytes: [UInt8](Bitrix24EventTests.body())))
        pairs += [("auth[access_token]", "access-canary-1"), ("auth[refresh_token]", "refresh-canary-2")]
        let item = try connector.accept(WebhookRequest(headers: [:], body: Data(PHPForm.encode(pairs).utf8)))
        let stored = String(decoding: item.body, as: UTF8.self)
        for secret in [F.token, "access-canary-1", "refresh-canary-2"] { #expect(!stored.contains(secret)) }
        let form = try PHPForm.parse(stored)
        #expect(form["auth"]?["application_token"]?.string == "")
        #expect(form["auth"]?["domain"]?.string == "fitcoach.bitrix24.ru", "the rest of the event is kept")
        guard case .fetch(let requests) = try connector.decode(InboxRow(id: 1, item: item)) else {
            Issue.record("the stored event still asks for its deal")
            return
        }
        #expect(requests.map(\.recordID) == ["134806"])
    }

    /// Found by the fuzz run: the token inside another field's value would have been stored as it was.
    @Test func aBodyRepeatingTheTokenInAnotherFieldIsRefused() throws {
        let connector = try F.connector(url: "http://127.0.0.1:9")
        let repeated = Bitrix24EventTests.body() + Data("&data[FIELDS][TITLE]=x%3D\(F.token)".utf8)
        #expect(throws: WebhookRejection(.malformed, "application_token repeated outside auth[application_token]")) {
            try connector.accept(WebhookRequest(headers: [:], body: repeated))
        }
    }

    @Test func theTokenIsFoundBeforeTheFormIsParsedAndMustAgreeWithIt() throws {
        let connector = try F.connector(url: "http://127.0.0.1:9")
        // Without the token a body that would not parse is unauthorized, not malformed: it was never parsed.
        let unparsable = Data("event=ONCRMDEALUPDATE&data[FIELDS][ID]=%zz&auth[application_token]=forged".utf8)
        #expect(throws: WebhookRejection(.unauthorized, "application_token does not match")) {
            try connector.accept(WebhookRequest(headers: [:], body: unparsable))
        }
        // A second spelling PHP reads as the same key overrides the scanned one: the parsed form must agree.
        let smuggled = Bitrix24EventTests.body() + Data("&auth[application_token]x=forged".utf8)
        #expect(throws: WebhookRejection(.unauthorized, "application_token does not match")) {
            try connector.accept(WebhookRequest(headers: [:], body: smuggled))
        }
    }
}
