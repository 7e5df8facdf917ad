import AsyncHTTPClient
import DealSyncCore
import DealSyncGateway
import DealSyncTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// What reaches the webhook routes from someone who is not a CRM or MasterDeal, or from a CRM that is
/// misconfigured: answered on the head where the head suffices, never buffered, and nothing stored.
@Suite(.serialized)
struct HostileWebhookTests {
    typealias G = IntakeGateway

    /// Heads that cannot pass are answered while their bodies have not been sent: the gateway does not wait for
    /// (or hold) a body whose sender has already failed.
    @Test func headsThatCannotPassAreAnsweredBeforeTheBodyIsSent() async throws {
        try await IntakeGateway.run { gateway in
            let stale = "t=\(Int(Date().timeIntervalSince1970) - 3_600),v1=" + String(repeating: "0", count: 64)
            let cases: [(what: String, head: String, status: String)] = [
                ("a wrong amoCRM URL secret", G.head("/webhooks/tour/guessed-secret-0000", [G.form], length: 1_000_000), "404"),
                ("an unknown connector", G.head("/webhooks/nobody/\(SyncSystem.webhookSecret)", [G.form], length: 1_000_000), "404"),
                ("amoCRM declaring 2 MiB", G.head("/webhooks/tour/\(SyncSystem.webhookSecret)", [G.form], length: 2 << 20), "413"),
                (
                    "amoCRM posting text/plain",
                    G.head("/webhooks/tour/\(SyncSystem.webhookSecret)", [("Content-Type", "text/plain")], length: 1_000), "415"
                ),
                ("MasterDeal without X-Signature", G.head("/webhooks/masterdeal", [G.json], length: 1_000), "401"),
                ("MasterDeal signed an hour ago", G.head("/webhooks/masterdeal", [G.json, ("X-Signature", stale)], length: 1_000), "401"),
                ("a Bitrix24 event declaring 100 KiB", G.head("/webhooks/fitness", [G.form], length: 100 << 10), "413"),
            ]
            for (what, head, status) in cases {
                let connection = try RawConnection(port: gateway.port)
                #expect(connection.send(head))
                let answer = await connection.read(within: .seconds(10))
                guard case .data(let text) = answer else {
                    Issue.record("\(what): no answer before the body was sent (\(answer))")
                    continue
                }
                #expect(text.hasPrefix("HTTP/1.1 \(status)"), "\(what): \(text)")
            }
            #expect(try await gateway.inboxCount() == 0)
            // The same route takes the genuine article.
            let genuine = try await HTTPClient.shared.send(
                .POST, gateway.url + "/webhooks/tour/\(SyncSystem.webhookSecret)",
                headers: [G.form], body: G.amoBody())
            #expect(genuine.0 == 200, "\(genuine.1)")
            #expect(try await gateway.inboxCount() == 1)
        }
    }

    /// A webhook posted with another content type than its sender uses is refused with 415 and a sentence
    /// saying what was expected; nothing is stored. The same bodies with the right type are stored.
    @Test func aWrongContentTypeIsRefusedWith415AndChangesNothing() async throws {
        try await IntakeGateway.run { gateway in
            let event = try G.masterDealEvent()
            let amo = "/webhooks/tour/\(SyncSystem.webhookSecret)"
            let signed = ("X-Signature", event.signature)
            let refused: [(path: String, headers: [(String, String)], body: String, expected: String)] = [
                (amo, [G.json], G.amoBody(), "expected Content-Type application/x-www-form-urlencoded, got application/json"),
                (amo, [], G.amoBody(), "expected Content-Type application/x-www-form-urlencoded, got none"),
                (
                    "/webhooks/fitness", [("Content-Type", "multipart/form-data; boundary=x")], G.bitrixBody(),
                    "expected Content-Type application/x-www-form-urlencoded, got multipart/form-data"
                ),
                (
                    "/webhooks/masterdeal", [("Content-Type", "text/plain"), signed], event.body,
                    "expected Content-Type application/json, got text/plain"
                ),
            ]
            for (path, headers, body, expected) in refused {
                let (status, answer) = try await HTTPClient.shared.send(.POST, gateway.url + path, headers: headers, body: body)
                #expect(status == 415, "\(path): \(answer)")
                #expect(JSONValue.parse(Data(answer.utf8))?["error"]?.string == expected, "\(path): \(answer)")
            }
            #expect(try await gateway.inboxCount() == 0)
            for (path, headers, body) in [
                (amo, [G.form], G.amoBody()), ("/webhooks/fitness", [G.form], G.bitrixBody()),
                ("/webhooks/masterdeal", [("Content-Type", "application/json; charset=utf-8"), signed], event.body),
            ] {
                let (status, answer) = try await HTTPClient.shared.send(.POST, gateway.url + path, headers: headers, body: body)
                #expect(status == 200, "\(path): \(answer)")
            }
            #expect(try await gateway.inboxCount() == 3)
        }
    }

    /// A Bitrix24 body without the portal's token is refused before the form is parsed: one that would not
    /// even parse is a 401, not a 400, and the largest body the route reads costs no more.
    @Test func aBitrix24BodyWithoutTheTokenIsRefusedBeforeItIsParsed() async throws {
        try await IntakeGateway.run { gateway in
            let appends = Array(repeating: "a[]=1", count: 10_000).joined(separator: "&")
            for body in ["event=ONCRMDEALUPDATE&data[FIELDS][ID]=%zz", appends, G.bitrixBody(token: "forged") + "&x=%zz"] {
                let (status, answer) = try await HTTPClient.shared.send(
                    .POST, gateway.url + "/webhooks/fitness", headers: [G.form], body: body)
                #expect(status == 401, "\(answer)")
            }
            let (status, _) = try await HTTPClient.shared.send(
                .POST, gateway.url + "/webhooks/fitness", headers: [G.form],
                body: G.bitrixBody() + "&x=%zz")
            #expect(status == 400, "with the token the body is parsed, and a malformed one refused")
            #expect(try await gateway.inboxCount() == 0)
        }
    }

    // MARK: Timeouts

    /// A connection that says nothing is closed after the idle timeout; so is one whose head never ends.
    @Test func silentConnectionsAndUnfinishedHeadsAreClosed() async throws {
        try await IntakeGateway.run({ $0.idleTimeout = .milliseconds(300) }) { gateway in
            let silent = try RawConnection(port: gateway.port)
            #expect(await silent.read(within: .seconds(10)) == .closed)
            let slowHead = try RawConnection(port: gateway.port)
            #expect(slowHead.send("POST /webhooks/masterdeal HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-"))
            #expect(await slowHead.read(within: .seconds(10)) == .closed)
        }
    }

    /// A body trickled in a byte every 100 ms is never idle, yet its connection is closed once the request has
    /// taken longer than the read timeout, long before the body is complete; nothing is stored.
    @Test func aTrickledBodyIsCutOffAtTheReadTimeout() async throws {
        try await IntakeGateway.run({
            $0.idleTimeout = .seconds(30); $0.requestReadTimeout = .milliseconds(500)
        }) { gateway in
            let body = G.amoBody()
            let connection = try RawConnection(port: gateway.port)
            #expect(connection.send(G.head("/webhooks/tour/\(SyncSystem.webhookSecret)", [G.form], length: body.utf8.count)))
            var sent = 0
            var closed = false
            for byte in body.utf8.prefix(300) {
                guard connection.send(String(decoding: [byte], as: UTF8.self)) else {
                    closed = true
                    break
                }
                sent += 1
                if await connection.read(within: .milliseconds(100)) == .closed {
                    closed = true
                    break
                }
            }
            #expect(closed, "the connection was still open after \(sent) bytes trickled over 30 s")
            #expect(sent < body.utf8.count)
            #expect(try await gateway.inboxCount() == 0)
        }
    }
}
