import DealSyncConnectors
import DealSyncCore
import DealSyncSimulators
import DealSyncTestSupport
import Foundation
import Hummingbird
import Synchronization
import Testing

/// `accept(_:)`: the `X-Signature` HMAC, the 5-minute tolerance, secret rotation, and what a valid event becomes.
///
/// Headers are made with the simulator's own signing code, which shares nothing with the connector's.
struct MasterDealSignatureTests {
    /// When the webhook arrived, in every test that does not use the real clock.
    static let receivedAt = Date(timeIntervalSince1970: 1_795_428_000)
    static let t: Int64 = 1_795_428_000

    /// A real event body: what the simulator emits for a deal it created and then edited `edits` times.
    static func event(edits: Int = 0) throws -> (body: String, event: MasterDealSimulator.Event) {
        let simulator = MasterDealSimulator(configuration: MasterDealFixture.simulatorConfiguration())
        let deal = try simulator.createAsUser(MasterDealFixture.fullDeal)
        let owners = ["u-ivan", "u-anna", "u-olga"]
        for edit in 0..<edits {
            try simulator.editAsUser(id: deal.id, changes: ["owner_id": .string(owners[edit % owners.count])])
        }
        let event = try #require(simulator.eventHistory.last?.event)
        return (event.json.text, event)
    }

    static func webhook(
        _ body: String, signature: String?, at receivedAt: Date = receivedAt,
        event: MasterDealSimulator.Event? = nil
    ) -> WebhookRequest {
        var headers = ["Content-Type": "application/json"]
        if let signature { headers["X-Signature"] = signature }
        if let event {
            headers["X-Event-Id"] = event.id
            headers["X-Event-Type"] = event.type.rawValue
        }
        return WebhookRequest(headers: headers, body: Data(body.utf8), receivedAt: receivedAt)
    }

    /// Why `accept` refused the webhook, or nil when it took it.
    static func rejection(_ connector: MasterDealConnector, _ webhook: WebhookRequest) -> WebhookRejection.Kind? {
        do {
            _ = try connector.accept(webhook)
            return nil
        } catch {
            return error.kind
        }
    }

    @Test func aValidSignatureYieldsAnInboxItemKeyedByDealAndVersion() throws {
        let connector = try MasterDealFixture.offlineConnector()
        for edits in [0, 2] {
            let (body, event) = try Self.event(edits: edits)
            let signature = MasterDealSimulator.signature(secret: MasterDealFixture.secret, body: body, timestamp: Self.t)
            let item = try connector.accept(Self.webhook(body, signature: signature, event: event))
            #expect(event.version == edits + 1)
            #expect(item.dedupeKey == "deal:\(event.deal.id):v\(edits + 1)")
            #expect(item.connector == "masterdeal")
            #expect(item.source == .webhook)
            #expect(item.body == Data(body.utf8), "the raw body is stored as received")
            #expect(item.headers["x-event-id"] == event.id)
            #expect(item.headers["x-event-type"] == event.type.rawValue)
            #expect(item.headers["x-signature"] == nil, "the signature is not kept")
        }
    }

    @Test func forgedSignaturesAreUnauthorized() throws {
        let connector = try MasterDealFixture.offlineConnector()
        let (body, event) = try Self.event()
        let valid = MasterDealSimulator.signature(secret: MasterDealFixture.secret, body: body, timestamp: Self.t)
        #expect(Self.rejection(connector, Self.webhook(body, signature: valid, event: event)) == nil)

        let wrongSecret = MasterDealSimulator.signature(secret: "not-the-secret", body: body, timestamp: Self.t)
        #expect(Self.rejection(connector, Self.webhook(body, signature: wrongSecret)) == .unauthorized)

        let tamperedBody = body.replacingOccurrences(of: "Tour to Sochi", with: "Tour to Sochx")
        #expect(tamperedBody != body)
        #expect(Self.rejection(connector, Self.webhook(tamperedBody, signature: valid)) == .unauthorized)

        // The same HMAC under another timestamp (within the tolerance), and the timestamp of another signature.
        let hex = try #require(valid.split(separator: "=").last)
        #expect(Self.rejection(connector, Self.webhook(body, signature: "t=\(Self.t - 1),v1=\(hex)")) == .unauthorized)
        let other = MasterDealSimulator.signature(secret: MasterDealFixture.secret, body: body, timestamp: Self.t - 5)
        let otherHex = try #require(other.split(separator: "=").last)
        #expect(Self.rejection(connector, Self.webhook(body, signature: "t=\(Self.t),v1=\(otherHex)")) == .unauthorized)

        // An empty and a truncated HMAC.
        #expect(Self.rejection(connector, Self.webhook(body, signature: "t=\(Self.t),v1=")) == .unauthorized)
        #expect(Self.rejection(connector, Self.webhook(body, signature: "t=\(Self.t),v1=\(hex.prefix(32))")) == .unauthorized)
    }

    @Test func timestampsOutsideTheFiveMinuteToleranceAreStale() throws {
        let connector = try MasterDealFixture.offlineConnector()
        let (body, _) = try Self.event()
        func kind(signedAt timestamp: Int64) -> WebhookRejection.Kind? {
            let header = MasterDealSimulator.signature(secret: MasterDealFixture.secret, body: body, timestamp: timestamp)
            return Self.rejection(connector, Self.webhook(body, signature: header))
        }
        // The edges of the tolerance are accepted, one second beyond is not.
        #expect(kind(signedAt: Self.t - 300) == nil)
        #expect(kind(signedAt: Self.t + 300) == nil)
        #expect(kind(signedAt: Self.t - 301) == .stale)
        #expect(kind(signedAt: Self.t + 301) == .stale)
        // Replays from long ago and signatures from far in the future.
        #expect(kind(signedAt: Self.t - 86_400) == .stale)
        #expect(kind(signedAt: 0) == .stale)
        #expect(kind(signedAt: Self.t + 10 * 365 * 86_400) == .stale)
        #expect(kind(signedAt: Int64.max) == .stale)
    }

    @Test func missingAndMalformedHeadersAreRejected() throws {
        let connector = try MasterDealFixture.offlineConnector()
        let (body, _) = try Self.event()
        let valid = MasterDealSimulator.signature(secret: MasterDealFixture.secret, body: body, timestamp: Self.t)
        let hex = String(try #require(valid.split(separator: "=").last))
        let headers: [String?] = [
            nil, "", "garbage", "t=\(Self.t)", "v1=\(hex)", "t=,v1=\(hex)", "t=abc,v1=\(hex)", "t=\(Self.t);v1=\(hex)",
            "t=\(Self.t) v1=\(hex)", "t=99999999999999999999,v1=\(hex)",
            // Signed numbers are not `<unix seconds>`; the smallest one must not overflow the skew arithmetic.
            "t=-9223372036854775808,v1=\(hex)", "t=-\(Self.t),v1=\(hex)", "t=+\(Self.t),v1=\(hex)",
        ]
        for header in headers {
            let kind = Self.rejection(connector, Self.webhook(body, signature: header))
            #expect(kind == .unauthorized, "X-Signature: \(header ?? "<absent>")")
        }
    }

    @Test func duringARotationTheCurrentAndThePreviousSecretSign() throws {
        let rotating = try MasterDealFixture.offlineConnector(.init(previousSecret: MasterDealFixture.previousSecret))
        let plain = try MasterDealFixture.offlineConnector()
        let (body, _) = try Self.event()
        func header(_ secret: String) -> String {
            MasterDealSimulator.signature(secret: secret, body: body, timestamp: Self.t)
        }
        #expect(Self.rejection(rotating, Self.webhook(body, signature: header(MasterDealFixture.secret))) == nil)
        #expect(Self.rejection(rotating, Self.webhook(body, signature: header(MasterDealFixture.previousSecret))) == nil)
        #expect(Self.rejection(rotating, Self.webhook(body, signature: header("a-third-secret"))) == .unauthorized)
        // Without previous_secret the old secret is refused.
        #expect(Self.rejection(plain, Self.webhook(body, signature: header(MasterDealFixture.previousSecret))) == .unauthorized)
    }

    @Test func aValidSignatureOverSomethingOtherThanAnEventIsMalformed() throws {
        let connector = try MasterDealFixture.offlineConnector()
        let (_, event) = try Self.event()
        let deal = event.deal.json.text
        let bodies = [
            "not json", "", "[]", "{}", #"{"event_id":"e-1","type":"DealCreated"}"#,
            #"{"event_id":"e-1","type":"DealCreated","deal":{"opportunity_name":"no id"}}"#,
            #"{"event_id":"e-1","type":"DealCreated","deal":"md-1"}"#,
            #"{"type":"DealCreated","deal":\#(deal)}"#,  // no event_id
            deal,  // a bare deal is not an event
        ]
        for body in bodies {
            let signature = MasterDealSimulator.signature(secret: MasterDealFixture.secret, body: body, timestamp: Self.t)
            #expect(Self.rejection(connector, Self.webhook(body, signature: signature)) == .malformed, "\(body.prefix(60))")
        }
    }

    /// One header checked by `contracts/check.py signature`, so the scheme is the contract's and not merely the
    /// one the simulator and the connector happen to share.
    @Test func theSignatureSchemeIsTheContracts() async throws {
        let connector = try MasterDealFixture.offlineConnector()
        let (body, event) = try Self.event()
        let directory = try ContractCheck.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try ContractCheck.write(Data(body.utf8), name: "event.json", in: directory)
        let now = Date()
        let t = Int64(now.timeIntervalSince1970)
        let header = MasterDealSimulator.signature(secret: MasterDealFixture.secret, body: body, timestamp: t)
        #expect(MasterDealSignature.sign(body: Data(body.utf8), secret: MasterDealFixture.secret, timestamp: t) == header)

        let environment = ["MASTERDEAL_EVENT_SECRET": MasterDealFixture.secret]
        let checked = try await ContractCheck.run(["signature", header, file], environment: environment)
        #expect(checked.status == 0, "\(checked.output)")
        #expect(Self.rejection(connector, Self.webhook(body, signature: header, at: now, event: event)) == nil)

        // The checker tells a wrong secret apart, so its verdict above means something.
        let forged = MasterDealSimulator.signature(secret: "not-the-secret", body: body, timestamp: t)
        let refused = try await ContractCheck.run(["signature", forged, file], environment: environment)
        #expect(refused.status == 1, "\(refused.output)")
    }

    /// Events as the simulator really sends them (its dispatcher signs each attempt with the real clock) pass
    /// `accept` on a loopback receiver.
    @Test func eventsTheSimulatorSendsAreAccepted() async throws {
        let connector = try MasterDealFixture.offlineConnector()
        let accepted = Mutex<[String]>([])
        let router = Router()
        router.post("/webhooks/masterdeal") { request, _ -> Response in
            var request = request
            let bytes = try await request.collectBody(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            do {
                let item = try connector.accept(WebhookRequest(headers: headers, body: Data(bytes.readableBytesView)))
                accepted.withLock { $0.append(item.dedupeKey) }
                return Response(status: .ok)
            } catch {
                accepted.withLock { $0.append("rejected: \(error)") }
                return Response(status: .unauthorized)
            }
        }
        try await SimulatorHost.withRunning(router: router) { receiverURL in
            let target = MasterDealSimulator.EventTarget(
                url: receiverURL + "/webhooks/masterdeal",
                secret: MasterDealFixture.secret)
            let simulator = MasterDealSimulator(configuration: MasterDealFixture.simulatorConfiguration(eventTargets: [target]))
            try await simulator.withRunning { _ in
                let deal = try simulator.createAsUser(MasterDealFixture.fullDeal)
                try simulator.editAsUser(id: deal.id, changes: ["stage": "qualified"])
                let deadline = ContinuousClock.now + .seconds(2)
                while accepted.withLock({ $0.count }) < 2, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(10))
                }
                #expect(Set(accepted.withLock { $0 }) == ["deal:\(deal.id):v1", "deal:\(deal.id):v2"])
            }
        }
    }
}
