import DealSyncConnectors
import DealSyncCore
import DealSyncGateway
import DealSyncStore
import DealSyncTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PostgresNIO
import Testing

/// The gateway's routes through Hummingbird's router test framework (no socket), over a real PostgreSQL with the
/// real group-commit writer running: each webhook route answers its sender's genuine request with 200 and stores
/// it once, and refuses every other request with its status and a reason, storing nothing.
@Suite(.timeLimit(.minutes(2)))
struct WebhookRouteTests {
    typealias G = IntakeGateway

    struct Case: Sendable {
        var what: String
        var path: String
        var headers: [(String, String)]
        var body: String
        var status: HTTPResponse.Status
        /// What the JSON answer says (`status` for 200s, `error` for refusals), when the case pins it.
        var says: String?
    }

    static func fields(_ headers: [(String, String)]) -> HTTPFields {
        var fields = HTTPFields()
        for (name, value) in headers { fields[HTTPField.Name(name)!] = value }
        return fields
    }

    /// Runs `body` with a router-test client of a gateway over a fresh database, the writer running.
    static func withRoutes(_ body: @Sendable (any TestClientProtocol, Database) async throws -> Void) async throws {
        let configuration = try G.configuration()
        let url = try await TestPostgres.freshDatabaseURL()
        try await Database.withDatabase(url, logger: TestPostgres.logger) { database in
            var options = Gateway.Options()
            options.bodyLimit = 64 * 1024
            let gateway = Gateway(configuration: configuration, database: database, options: options, logger: TestPostgres.logger)
            let app = Application(router: gateway.router(), services: [gateway.writer], logger: TestPostgres.logger)
            try await app.test(.router) { client in try await body(client, database) }
            await gateway.shutdown()
        }
    }

    static func inboxKeys(_ database: Database) async throws -> [String] {
        var keys: [String] = []
        for try await key in try await database.client.query("SELECT dedupe_key FROM inbox ORDER BY id").decode(String.self) {
            keys.append(key)
        }
        return keys
    }

    @Test func eachRouteStoresItsSendersWebhookOnceAndRefusesEverythingElse() async throws {
        let event = try G.masterDealEvent()
        let amo = "/webhooks/tour/\(SyncSystem.webhookSecret)"
        let request = ("X-AmoCRM-RequestId", "route-test-1")
        let refused: [Case] = [
            Case(what: "a wrong URL secret", path: "/webhooks/tour/guessed", headers: [G.form], body: G.amoBody(), status: .notFound),
            Case(what: "no URL secret", path: "/webhooks/tour", headers: [G.form], body: G.amoBody(), status: .notFound),
            Case(what: "an unknown connector", path: "/webhooks/nowhere", headers: [G.form], body: G.amoBody(), status: .notFound),
            Case(
                what: "amoCRM's form as JSON", path: amo, headers: [G.json], body: G.amoBody(), status: .unsupportedMediaType,
                says: "expected Content-Type application/x-www-form-urlencoded, got application/json"),
            Case(what: "not amoCRM's form", path: amo, headers: [G.form], body: "leads[add][0][id]=%zz", status: .badRequest),
            Case(
                what: "a body over the limit", path: amo, headers: [G.form], body: String(repeating: "a", count: 65 * 1024),
                status: .contentTooLarge),
            Case(
                what: "a forged Bitrix24 token", path: "/webhooks/fitness", headers: [G.form], body: G.bitrixBody(token: "forged"),
                status: .unauthorized),
            Case(
                what: "an unsigned MasterDeal event", path: "/webhooks/masterdeal", headers: [G.json], body: event.body,
                status: .unauthorized),
            Case(
                what: "a MasterDeal event signed for another body", path: "/webhooks/masterdeal",
                headers: [G.json, ("X-Signature", event.signature)], body: event.body.replacingOccurrences(of: "Сделка", with: "Сделкa"),
                status: .unauthorized),
        ]
        let genuine: [Case] = [
            Case(what: "amoCRM", path: amo, headers: [G.form, request], body: G.amoBody(), status: .ok, says: "accepted"),
            Case(what: "amoCRM again", path: amo, headers: [G.form, request], body: G.amoBody(), status: .ok, says: "duplicate"),
            Case(what: "Bitrix24", path: "/webhooks/fitness", headers: [G.form], body: G.bitrixBody(), status: .ok, says: "accepted"),
            Case(
                what: "MasterDeal", path: "/webhooks/masterdeal", headers: [G.json, ("X-Signature", event.signature)], body: event.body,
                status: .ok, says: "accepted"),
        ]
        try await Self.withRoutes { client, database in
            for test in refused + genuine {
                let response = try await client.execute(
                    uri: test.path, method: .post, headers: Self.fields(test.headers), body: ByteBuffer(string: test.body))
                let answer = String(buffer: response.body)
                #expect(response.status == test.status, "\(test.what): \(answer)")
                if let says = test.says {
                    let json = JSONValue.parse(Data(answer.utf8))
                    #expect((json?["status"] ?? json?["error"])?.string == says, "\(test.what): \(answer)")
                }
                if test.status != .ok {
                    #expect(try await Self.inboxKeys(database).isEmpty, "\(test.what) stored nothing")
                }
            }
            let keys = try await Self.inboxKeys(database)
            #expect(keys.count == 3, "amoCRM's, Bitrix24's and MasterDeal's, each once: \(keys)")
            #expect(keys.first == "request:route-test-1")
        }
    }

    @Test func readinessHealthAndMetricsAnswerWithoutAWebhook() async throws {
        try await Self.withRoutes { client, _ in
            let ready = try await client.execute(uri: "/readyz", method: .get)
            #expect(ready.status == .ok)
            #expect(JSONValue.parse(Data(String(buffer: ready.body).utf8))?["schema_version"]?.string == "\(Migration.latestVersion)")
            let metrics = try await client.execute(uri: "/metrics", method: .get)
            #expect(metrics.status == .ok)
            #expect(String(buffer: metrics.body).contains("dealsync_"))
            let missing = try await client.execute(uri: "/webhooks", method: .get)
            #expect(missing.status == .notFound)
        }
    }

    /// A `WebhookRejection` thrown in any route is answered by Hummingbird with its status and reason; an unknown
    /// address says only "not found".
    @Test(arguments: [
        (WebhookRejection(.tooLarge, "body larger than 10 bytes"), HTTPResponse.Status.contentTooLarge, "body larger than 10 bytes"),
        (WebhookRejection(.stale, "signed 10 minutes ago"), .unauthorized, "signed 10 minutes ago"),
        (WebhookRejection(.unsupportedMediaType, "text/plain"), .unsupportedMediaType, "text/plain"),
        (WebhookRejection(.notFound, "no connector tour-7"), .notFound, "not found"),
    ])
    func aRejectionThrownByARouteIsItsOwnAnswer(rejection: WebhookRejection, status: HTTPResponse.Status, says: String) async throws {
        let router = Router()
        router.post("/hook") { _, _ -> HTTPResponse.Status in throw rejection }
        try await Application(router: router).test(.router) { client in
            let answer = try await client.execute(uri: "/hook", method: .post)
            #expect(answer.status == status)
            #expect(JSONValue.parse(Data(String(buffer: answer.body).utf8))?["error"]?.string == says)
        }
    }
}
