import DealSyncConnectors
import DealSyncCore
import DealSyncSimulators
import DealSyncTestSupport
import Foundation
import Testing

/// The client side of the contract: the requests the connector really sends, captured on a loopback recorder,
/// validate against `DealCreate` / `DealPatch` in `contracts/masterdeal.openapi.yaml`, and what it writes
/// reads back unchanged.
struct MasterDealRequestContractTests {
    /// A create carrying every mapped key.
    static let createValues: [String: FieldValue] = [
        "account_id": .text("acc-1"), "opportunity_name": .text("Tour to Sochi"), "stage": .text("lead"),
        "amount": .money(Money(amount: 150_000, currency: "RUB")), "owner_id": .text("u-olga"),
        "sla_due_at": .time(MasterDealFixture.fullDealSLA), "attributes.pax": .integer(2),
        "attributes.rate": .decimal(Decimal(string: "2.5")!), "attributes.vip": .bool(true),
        "attributes.note": .text("window seat"), "attributes.promo": .null,
    ]

    /// A patch setting every mapped key to another value.
    static let patchValues: [String: FieldValue] = [
        "opportunity_name": .text("Tour to Sochi, 3 pax"), "stage": .text("proposal"),
        "amount": .money(Money(amount: Decimal(string: "1234.5")!, currency: "EUR")), "owner_id": .text("u-ivan"),
        "sla_due_at": .time(1_796_137_200), "attributes.pax": .integer(3),
        "attributes.rate": .decimal(Decimal(string: "-0.75")!), "attributes.vip": .bool(false),
        "attributes.note": .text("aisle seat"),
    ]

    /// A patch clearing every nullable key.
    static let clearingValues: [String: FieldValue] = [
        "amount": .null, "owner_id": .null, "sla_due_at": .null, "attributes.pax": .null, "attributes.note": .null,
    ]

    @Test func writesValidateAgainstDealCreateAndDealPatch() async throws {
        let recorder = RequestRecorder()
        let create = MasterDealFixture.delivery(.create, values: Self.createValues)
        let patch = MasterDealFixture.delivery(.update, recordID: "md-7f3a9c21", values: Self.patchValues, knownVersion: 3)
        let clear = MasterDealFixture.delivery(.update, recordID: "md-7f3a9c21", values: Self.clearingValues)
        let outcomes = try await recorder.withRunning { baseURL in
            await (try MasterDealFixture.connector(baseURL: baseURL)).deliver([create, patch, clear])
        }
        let landed = SourceStamp(millis: 1_795_428_000_123, version: 4)
        #expect(outcomes == Array(repeating: .delivered(recordID: "md-7f3a9c21", landedAt: landed), count: 3))

        // Writes to different deals go at once, so the create and the patches may arrive in either order; the two
        // writes to one deal arrive in order.
        let received = recorder.requests
        try #require(received.count == 3)
        let requests = try [create, patch, clear].map { delivery in
            try #require(received.first { $0.headers["idempotency-key"] == delivery.idempotencyKey })
        }
        #expect(
            requests.map { "\($0.method) \($0.path)" }
                == ["POST /v1/deals", "PATCH /v1/deals/md-7f3a9c21", "PATCH /v1/deals/md-7f3a9c21"])
        #expect(
            received.firstIndex { $0.headers["idempotency-key"] == patch.idempotencyKey }!
                < received.firstIndex { $0.headers["idempotency-key"] == clear.idempotencyKey }!, "one deal's writes in order")
        for request in requests {
            #expect(request.headers["authorization"] == "Bearer \(MasterDealFixture.token)")
            #expect(request.headers["content-type"] == "application/json")
        }
        #expect(requests[0].headers["if-match"] == nil, "a create has no version to match")
        #expect(requests[1].headers["if-match"] == "\"3\"")
        #expect(requests[2].headers["if-match"] == nil, "no known version, no precondition")

        // The bodies say what the values say.
        let created = try #require(JSONValue.parse(requests[0].body))
        #expect(created["amount"] == .string("150000.00"))
        #expect(created["currency"] == .string("RUB"))
        #expect(created["sla_due_at"]?.string.flatMap(Timestamp.parseSeconds) == MasterDealFixture.fullDealSLA)
        #expect(created["attributes"]?["pax"] == .number("2"))
        #expect(created["attributes"]?["promo"] == .null)
        let patched = try #require(JSONValue.parse(requests[1].body))
        #expect(patched["amount"] == .string("1234.50"))
        #expect(patched["currency"] == .string("EUR"))
        #expect(patched["account_id"] == nil)
        let cleared = try #require(JSONValue.parse(requests[2].body))
        #expect(
            cleared
                == .object([
                    "amount": .null, "owner_id": .null, "sla_due_at": .null,
                    "attributes": .object(["pax": .null, "note": .null]),
                ]))

        let directory = try ContractCheck.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let createFile = try ContractCheck.write(requests[0].body, name: "create.json", in: directory)
        let patchFiles = [
            try ContractCheck.write(requests[1].body, name: "patch.json", in: directory),
            try ContractCheck.write(requests[2].body, name: "clear.json", in: directory),
        ]
        let createCheck = try await ContractCheck.openAPI("DealCreate", [createFile])
        #expect(createCheck.status == 0, "\(createCheck.output)")
        let patchCheck = try await ContractCheck.openAPI("DealPatch", patchFiles)
        #expect(patchCheck.status == 0, "\(patchCheck.output)")

        // The checker does refuse what the contract forbids, so the verdicts above mean something.
        let wrong = [
            try ContractCheck.write(Data(#"{"version":4}"#.utf8), name: "wrong-1.json", in: directory),
            try ContractCheck.write(Data(#"{"amount":1234.5,"currency":"EUR"}"#.utf8), name: "wrong-2.json", in: directory),
        ]
        let refused = try await ContractCheck.openAPI("DealPatch", wrong)
        #expect(refused.status == 1, "\(refused.output)")
    }

    @Test func writtenValuesReadBackAsWritten() async throws {
        let simulator = MasterDealSimulator(configuration: MasterDealFixture.simulatorConfiguration())
        try await simulator.withRunning { baseURL in
            let connector = try MasterDealFixture.connector(baseURL: baseURL)
            func readBack(_ id: String) async throws -> Observation {
                let items = try await connector.fetch([id], lineage: UUID())
                return try MasterDealFixture.observation(connector, try #require(items.first))
            }

            let created = await connector.deliver([MasterDealFixture.delivery(.create, values: Self.createValues)])
            guard case .delivered(let id, let stamp)? = created.first else {
                Issue.record("the create was not delivered: \(created)")
                return
            }
            #expect(stamp?.version == 1)
            var expected = Self.createValues
            expected["account_id"] = nil
            expected["attributes.promo"] = nil  // a null attribute is simply absent on create
            #expect(try await readBack(id).fields == expected)
            #expect(try await readBack(id).account == "acc-1")

            let patched = await connector.deliver([
                MasterDealFixture.delivery(.update, recordID: id, values: Self.patchValues, knownVersion: 1)
            ])
            #expect(patched.first.map(Self.landedVersion) == 2)
            #expect(try await readBack(id).fields == Self.patchValues)

            let cleared = await connector.deliver([
                MasterDealFixture.delivery(.update, recordID: id, values: Self.clearingValues, knownVersion: 2)
            ])
            #expect(cleared.first.map(Self.landedVersion) == 3)
            var afterClearing = Self.patchValues
            for (key, value) in Self.clearingValues { afterClearing[key] = key.hasPrefix("attributes.") ? nil : value }
            #expect(try await readBack(id).fields == afterClearing)
        }
    }

    static func landedVersion(_ outcome: DeliveryOutcome) -> Int64? {
        if case .delivered(_, let stamp) = outcome { return stamp?.version }
        return nil
    }
}
