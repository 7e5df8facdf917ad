import AsyncHTTPClient
import DealSyncStore
import DealSyncTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// `dealsync simulate amocrm|bitrix24 --connector ID` stands in for a connector of the repository's own
/// configuration: dealsync authenticates against it as `serve` does (`validate --live` with a database, so the
/// amoCRM OAuth refresh is real and its new pair stored), with credentials resolved from a dealsync.env the
/// simulator reads the same way; the connector's webhook is subscribed at the gateway's address; and nothing the
/// simulator prints holds a secret from that file.
@Suite(.serialized)
struct SimulateConnectorTests {
    static let secrets = [
        "TOUR_AMOCRM_CLIENT_SECRET": "client-secret-\(UUID().uuidString)",
        "TOUR_AMOCRM_REFRESH_TOKEN": "refresh-\(UUID().uuidString)",
        "TOUR_AMOCRM_WEBHOOK_SECRET": "hook-\(UUID().uuidString)",
        "FITNESS_BITRIX24_WEBHOOK_CODE": "code\(UUID().uuidString.prefix(8).lowercased())",
        "FITNESS_BITRIX24_APP_TOKEN": "apptoken\(UUID().uuidString.prefix(8).lowercased())",
        "MASTERDEAL_TOKEN": "md-\(UUID().uuidString)",
        "MASTERDEAL_EVENT_SECRET": "md-event-\(UUID().uuidString)",
    ]

    /// The repository's connectors/ and mappings/ with a dealsync.env of fresh secrets.
    static func configDirectory() throws -> String {
        let root = Repository.root()
        let directory = NSTemporaryDirectory() + "dealsync-standin-\(UUID().uuidString)"
        let manager = FileManager.default
        try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for folder in ["connectors", "mappings"] {
            try manager.copyItem(atPath: "\(root)/\(folder)", toPath: "\(directory)/\(folder)")
        }
        let env = (["TOUR_AMOCRM_CLIENT_ID=tour-client-for-the-test"] + secrets.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })
            .joined(separator: "\n")
        try Data((env + "\n").utf8).write(to: URL(fileURLWithPath: "\(directory)/dealsync.env"))
        return directory
    }

    static func post(_ url: String, json: String) async throws -> Int {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: json))
        return Int(try await HTTPClient.shared.execute(request, timeout: .seconds(10)).status.code)
    }

    @Test func serveAuthenticatesAgainstSimulatorsStandingInForTheConnectors() async throws {
        let directory = try Self.configDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let gateway = "http://127.0.0.1:\(try FreePort.pick())"
        let common = ["--connector", "--config", directory, "--gateway", gateway]
        try await SimulateCommandTests.withSimulator(["amocrm", common[0], "tour-amocrm"] + common.dropFirst()) { amo, amoOutput in
            try await SimulateCommandTests.withSimulator(["bitrix24", common[0], "fitness-bitrix24"] + common.dropFirst()) {
                bitrix, bitrixOutput in
                for output in [amoOutput(), bitrixOutput()] {
                    for secret in Self.secrets.values { #expect(!output.contains(secret), "a secret from dealsync.env in: \(output)") }
                }
                #expect(amoOutput().contains("OAuth client tour-client-for-the-test"), "\(amoOutput())")
                #expect(amoOutput().contains("\(gateway)/webhooks/tour-amocrm/<webhook.secret"), "\(amoOutput())")
                #expect(bitrixOutput().contains("the inbound webhook /rest/1/<auth.webhook.code"), "\(bitrixOutput())")

                // Authenticated as serve does: OAuth refresh with the connector's client and refresh token, the new
                // pair stored in the database; Bitrix24 through the connector's inbound webhook code.
                let database = try await TestPostgres.freshDatabaseURL()
                let live = try await ChildProgram.run(
                    try Repository.dealsyncBinary(), ["validate", directory, "--live", "--database-url", database.revealedURLString()],
                    environment: ["TOUR_AMOCRM_URL": amo, "FITNESS_BITRIX24_URL": bitrix])
                #expect(live.status == 0, "\(live.stdout)\(live.stderr)")
                #expect(live.stdout.contains("live: tour-amocrm: ") && live.stdout.contains("live: fitness-bitrix24: "), "\(live.stdout)")

                // The webhooks are subscribed at the gateway's address, with the connector's own secret in the URL.
                #expect(try await Self.post(amo + "/_sim/leads", json: #"{"name":"Проверка подписки"}"#) == 201)
                let hook = "\(gateway)/webhooks/tour-amocrm/\(Self.secrets["TOUR_AMOCRM_WEBHOOK_SECRET"]!)"
                let deadline = ContinuousClock.now + .seconds(10)
                var destinations: [String] = []
                while destinations.isEmpty, ContinuousClock.now < deadline {
                    let (_, body) = try await SimulateCommandTests.get(amo + "/_sim/webhooks")
                    destinations = ((try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [[String: Any]] ?? []).compactMap {
                        $0["destination"] as? String
                    }
                    if destinations.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
                }
                #expect(destinations.contains(hook), "\(destinations)")
                let (_, body) = try await SimulateCommandTests.get(bitrix + "/_sim/events/handlers")
                let handlers = ((try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [[String: Any]] ?? []).compactMap {
                    $0["handler"] as? String
                }
                #expect(handlers.count == 4 && Set(handlers) == ["\(gateway)/webhooks/fitness-bitrix24"], "\(body)")
            }
        }
    }

    @Test func aConnectorOfAnotherKindOrUnknownIsAClearError() async throws {
        let directory = try Self.configDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let binary = try Repository.dealsyncBinary()
        let wrongKind = try await ChildProgram.run(binary, ["simulate", "bitrix24", "--connector", "tour-amocrm", "--config", directory])
        #expect(
            wrongKind.status != 0 && wrongKind.stderr.contains("connector tour-amocrm is of kind amocrm: run dealsync simulate amocrm"),
            "\(wrongKind.stderr)")
        let unknown = try await ChildProgram.run(binary, ["simulate", "amocrm", "--connector", "tour", "--config", directory])
        #expect(unknown.stderr.contains("no connector named tour") && unknown.stderr.contains("tour-amocrm"), "\(unknown.stderr)")
        let both = try await ChildProgram.run(
            binary, ["simulate", "amocrm", "--connector", "tour-amocrm", "--mapping", "tour-agency", "--config", directory])
        #expect(both.stderr.contains("drop --mapping"), "\(both.stderr)")
        let noConnector = try await ChildProgram.run(binary, ["simulate", "amocrm", "--gateway", "http://127.0.0.1:1"])
        #expect(noConnector.stderr.contains("--gateway needs --connector"), "\(noConnector.stderr)")
    }
}
