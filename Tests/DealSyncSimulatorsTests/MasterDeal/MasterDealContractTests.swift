import DealSyncSimulators
import DealSyncTestSupport
import Foundation
import NIOHTTP1
import Testing

/// Real responses and event bodies, captured over HTTP, checked against `contracts/` with `contracts/check.py`.
///
/// A missing Python module makes check.py exit 2, which fails these tests (they never skip).
struct MasterDealContractTests {
    @Test func theOpenAPIDocumentIsValid() async throws {
        let result = try await ContractCheck.run(["spec", ContractCheck.contracts + "/masterdeal.openapi.yaml"])
        #expect(result.status == 0, "\(result.output)")
    }

    @Test func responsesMatchTheOpenAPIComponents() async throws {
        let directory = try ContractCheck.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var configuration = masterDealTestConfiguration(transitions: ["lead": ["qualified"], "qualified": ["won"]])
        configuration.faults.seed = 7
        let simulator = MasterDealSimulator(configuration: configuration)
        // component → captured files
        let captured = try await simulator.withRunning { baseURL -> [String: [String]] in
            let client = MasterDealTestClient(baseURL: baseURL)
            var files: [String: [String]] = [:]
            func keep(_ response: MasterDealTestResponse, _ component: String, status: Int, contentType: String) throws {
                #expect(response.status == status, "\(response.text)")
                #expect(response.header("Content-Type") == contentType)
                let file = directory.appendingPathComponent("\(component)-\(files[component, default: []].count).json")
                try response.body.write(to: file)
                files[component, default: []].append(file.path)
            }
            let created = try await client.write(
                .POST, "/v1/deals",
                """
                {"account_id":"acc-1","opportunity_name":"Tour","stage":"lead","amount":"150000","currency":"RUB",
                 "owner_id":"u-olga","sla_due_at":"2026-11-30T18:00:00+03:00","attributes":{"pax":2,"vip":true,"note":"x"}}
                """)
            try keep(created, "Deal", status: 201, contentType: "application/json")
            let id = try #require(try created.json["id"]?.stringValue)
            #expect(created.header("Location") == "/v1/deals/\(id)")
            #expect(created.header("ETag") == "\"1\"")
            try keep(try await client.get("/v1/deals/\(id)"), "Deal", status: 200, contentType: "application/json")
            try keep(
                try await client.write(.PATCH, "/v1/deals/\(id)", #"{"amount":null,"currency":null}"#),
                "Deal", status: 200, contentType: "application/json")
            try keep(
                try await client.write(.POST, "/v1/deals/\(id)/stage", #"{"stage":"qualified","reason":"call"}"#),
                "Deal", status: 200, contentType: "application/json")
            try keep(
                try await client.write(.PUT, "/v1/deals/\(id)/owners", #"{"owner_id":null}"#),
                "Deal", status: 200, contentType: "application/json")
            try keep(try await client.get("/v1/deals?limit=1"), "DealList", status: 200, contentType: "application/json")
            try keep(
                try await client.get("/v1/deals?updated_since=2000-01-01T00:00:00Z"), "DealList", status: 200,
                contentType: "application/json")
            try keep(
                try await client.write(.POST, "/v1/deals/\(id)/notes", #"{"text":"called the client"}"#),
                "Note", status: 201, contentType: "application/json")

            let problem = "application/problem+json"
            try keep(
                try await MasterDealTestClient(baseURL: baseURL, token: nil).get("/v1/deals"), "Problem",
                status: 401, contentType: problem)
            try keep(try await client.get("/v1/deals/md-missing"), "Problem", status: 404, contentType: problem)
            try keep(try await client.send(.POST, "/v1/deals", body: "{}"), "Problem", status: 400, contentType: problem)
            try keep(try await client.write(.POST, "/v1/deals", "{not json"), "Problem", status: 400, contentType: problem)
            try keep(try await client.get("/v1/deals?limit=0"), "Problem", status: 400, contentType: problem)
            try keep(
                try await client.write(.PATCH, "/v1/deals/\(id)", #"{"version":9}"#), "Problem", status: 422,
                contentType: problem)
            try keep(
                try await client.write(.PATCH, "/v1/deals/\(id)", #"{"stage":"lead"}"#), "Problem", status: 422,
                contentType: problem)
            try keep(
                try await client.write(.PATCH, "/v1/deals/\(id)", "{}", headers: [("If-Match", "\"1\"")]),
                "PreconditionProblem", status: 412, contentType: problem)
            simulator.faults.update(
                {
                    var f = FaultSettings(); f.rateLimitRate = 1; f.retryAfterSeconds = 3; return f
                }())
            try keep(try await client.get("/v1/deals"), "Problem", status: 429, contentType: problem)
            simulator.faults.update(
                {
                    var f = FaultSettings(); f.down = true; return f
                }())
            try keep(try await client.get("/v1/deals"), "Problem", status: 503, contentType: problem)
            simulator.faults.update(
                {
                    var f = FaultSettings(); f.errorRate = 1; return f
                }())
            try keep(try await client.get("/v1/deals"), "Problem", status: 500, contentType: problem)
            return files
        }
        #expect(captured["Problem"]?.count == 10)
        for (component, files) in captured.sorted(by: { $0.key < $1.key }) {
            let result = try await ContractCheck.run(
                ["openapi", ContractCheck.contracts + "/masterdeal.openapi.yaml", component] + files)
            #expect(result.status == 0, "\(component): \(result.output)")
        }
    }

    @Test func everyEventTypeMatchesItsSchema() async throws {
        let directory = try ContractCheck.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let receiver = MasterDealEventReceiver()
        let received = try await receiver.withSimulator { simulator, client, _ in
            let id = try #require(try await client.create()["id"]?.stringValue)
            _ = try await client.write(.POST, "/v1/deals/\(id)/stage", #"{"stage":"won","reason":"signed"}"#)
            _ = try await client.write(.POST, "/v1/deals/\(id)/stage", #"{"stage":"lost"}"#)
            _ = try await client.write(.PUT, "/v1/deals/\(id)/owners", #"{"owner_id":"u-ivan"}"#)
            try simulator.emit(.offerApproved, dealID: id)
            try simulator.emit(.billingReady, dealID: id)
            return try await receiver.waitFor(8)
        }
        let types = try received.map { try #require($0.json["type"]?.stringValue) }
        #expect(
            types.sorted() == [
                "BillingReady", "DealClosedLost", "DealClosedWon", "DealCreated", "OfferApproved",
                "OwnerChanged", "StageChanged", "StageChanged",
            ])
        var files: [String] = []
        for (index, request) in received.enumerated() {
            let event = try request.json
            let type = try #require(event["type"]?.stringValue)
            #expect(request.headers["x-event-type"] == type)
            #expect(request.headers["x-event-id"] == event["event_id"]?.stringValue)
            #expect(request.headers["content-type"] == "application/json")
            let file = directory.appendingPathComponent("\(type)-\(index).json")
            try request.body.write(to: file)
            files.append(file.path)
        }
        // Each body against contracts/events/<its type>.schema.json.
        let result = try await ContractCheck.run(["events", ContractCheck.contracts + "/events"] + files)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.components(separatedBy: "ok ").count - 1 == 8, "\(result.output)")
    }

    @Test func theCheckerRejectsAnInstanceThatBreaksTheContract() async throws {
        let directory = try ContractCheck.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let deal = MasterDealSimulator.Deal(
            id: "md-00000001", accountID: "acc", opportunityName: "x", stage: "lead",
            amount: "10.00", currency: "RUB", createdAt: 0, updatedAt: 0)
        var broken = try #require(deal.json.objectValue)
        broken["amount"] = .number(10)
        let good = directory.appendingPathComponent("good.json")
        let bad = directory.appendingPathComponent("bad.json")
        try deal.json.serialized().write(to: good)
        try MasterDealJSON.object(broken).serialized().write(to: bad)
        let spec = ContractCheck.contracts + "/masterdeal.openapi.yaml"
        #expect(try await ContractCheck.run(["openapi", spec, "Deal", good.path]).status == 0)
        let result = try await ContractCheck.run(["openapi", spec, "Deal", bad.path])
        #expect(result.status == 1)
        #expect(result.output.contains("/amount"))
        let schema = try await ContractCheck.run(
            ["schema", ContractCheck.contracts + "/events/deal.schema.json", bad.path])
        #expect(schema.status == 1)
    }

    @Test func aMissingPythonModuleFailsLoudlyWithThePackageToInstall() async throws {
        let directory = try ContractCheck.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data("import sys\nsys.modules['yaml'] = None\n".utf8)
            .write(to: directory.appendingPathComponent("sitecustomize.py"))
        let result = try await ContractCheck.run(
            ["spec", ContractCheck.contracts + "/masterdeal.openapi.yaml"],
            environment: ["PYTHONPATH": directory.path])
        #expect(result.status == 2)
        #expect(result.output.contains("pip install PyYAML"), "\(result.output)")
    }
}
