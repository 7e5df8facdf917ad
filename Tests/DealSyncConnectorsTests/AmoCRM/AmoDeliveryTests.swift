import DealSyncConnectors
import DealSyncCore
import DealSyncSimulators
import Foundation
import Testing

/// `deliver`: batch PATCH updates, POST creates guarded against duplicates, and how amoCRM's answers map to
/// outcomes.
struct AmoDeliveryTests {
    static func update(_ id: Int?, _ values: [String: FieldValue], attempt: Int = 0) -> Delivery {
        Delivery(
            outboxIDs: [Int64(id ?? 0)], idempotencyKey: "upd-\(UUID().uuidString.prefix(8))", operation: .update,
            recordID: id.map(String.init), masterDealID: nil, values: values, lineageID: UUID(), attempt: attempt)
    }

    static func create(_ masterID: String, _ values: [String: FieldValue], attempt: Int = 0, key: String = "create-1") -> Delivery {
        Delivery(
            outboxIDs: [1], idempotencyKey: key, operation: .create, recordID: nil, masterDealID: masterID,
            values: values, lineageID: UUID(), attempt: attempt)
    }

    /// Leads made by a salesperson (in the simulator, no API call).
    static func seed(_ amo: AmoHarness, count: Int) throws -> [Int] {
        try (0..<count).map { index in
            try amo.simulator.createAsSalesperson(
                userID: AmoFixture.olga,
                AmoLeadFields(
                    name: "Заявка \(index)", price: 1000 * (index + 1), statusID: AmoFixture.newLead, pipelineID: AmoFixture.pipeline,
                    responsibleUserID: AmoFixture.olga)
            ).id
        }
    }

    static func leads(_ amo: AmoHarness, linkedTo masterID: String) -> [AmoLead] {
        amo.simulator.allLeads().filter { $0.values(ofField: AmoFixture.linkField) == [masterID] }
    }

    // MARK: Batch updates

    @Test func aBatchWithInvalidElementsDeliversTheOthersAndRejectsThoseForGood() async throws {
        try await AmoHarness.run { amo in
            let ids = try Self.seed(amo, count: 6)
            let before = ids.map { amo.simulator.lead(id: $0)! }
            let connector = amo.connector()
            let outcomes = await connector.deliver([
                Self.update(ids[0], ["name": .text("Турция, всё включено")]),
                Self.update(ids[1], ["status": .text("7001000:7009999")]),  // no such status
                Self.update(ids[2], ["price": .integer(250_000), "custom_fields.900004": .text("502")]),
                Self.update(ids[3], ["custom_fields.900004": .text("599")]),  // an enum value the field does not have
                Self.update(nil, ["name": .text("без id")]),
                Self.update(ids[4], ["status": .text("7001000:143"), "loss_reason_id": .text("5020001")]),
                Self.update(ids[5], ["status": .text("7001000:7001002"), "loss_reason_id": .text("5020001")]),
            ])
            #expect(outcomes.count == 7)
            for (index, leadIndex) in [(0, 0), (2, 2), (5, 4), (6, 5)] {
                let lead = try #require(amo.simulator.lead(id: ids[leadIndex]))
                let landed = SourceStamp(seconds: Int64(lead.updatedAt))
                #expect(outcomes[index] == .delivered(recordID: String(ids[leadIndex]), landedAt: landed), "element \(index)")
                #expect(lead.updatedBy == 0, "written as a robot (updated_by: 0)")
            }
            for index in [1, 3] {
                guard case .permanent(.validation, 400, let detail) = outcomes[index] else {
                    Issue.record("element \(index): \(outcomes[index])")
                    continue
                }
                #expect(!detail.isEmpty)
            }
            guard case .permanent(.validation, nil, _) = outcomes[4] else {
                Issue.record("an update without a lead id: \(outcomes[4])")
                return
            }
            #expect(amo.simulator.lead(id: ids[0])?.name == "Турция, всё включено")
            #expect(amo.simulator.lead(id: ids[2])?.price == 250_000)
            #expect(amo.simulator.lead(id: ids[2])?.values(ofField: AmoFixture.tourTypeField) == ["ski"])
            #expect(amo.simulator.lead(id: ids[1]) == before[1], "the rejected elements are untouched")
            #expect(amo.simulator.lead(id: ids[3]) == before[3])
            #expect(amo.simulator.lead(id: ids[4])?.statusID == 143)
            #expect(amo.simulator.lead(id: ids[4])?.lossReasonID == 5_020_001, "a loss reason goes with status 143")
            #expect(amo.simulator.lead(id: ids[5])?.statusID == AmoFixture.qualified)
            #expect(amo.simulator.lead(id: ids[5])?.lossReasonID == nil, "and only with 143 (amoCRM refuses it otherwise)")
            // All or nothing: each 400 names the elements it refuses and the rest go again. amoCRM checks types
            // before it checks statuses, so the two refusals may come one answer at a time.
            #expect((2...3).contains(amo.requests("PATCH /api/v4/leads")), "one PATCH per refusal, then one for the rest")
        }
    }

    @Test func updatesGoOutInBatchesOfTheConfiguredSize() async throws {
        try await AmoHarness.run(connectorYAML: "delivery: {batch_size: 4}") { amo in
            let ids = try Self.seed(amo, count: 10)
            let outcomes = await amo.connector().deliver(ids.map { Self.update($0, ["price": .integer(77_000)]) })
            #expect(outcomes.allSatisfy { if case .delivered = $0 { true } else { false } })
            #expect(amo.requests("PATCH /api/v4/leads") == 3)
            #expect(ids.allSatisfy { amo.simulator.lead(id: $0)?.price == 77_000 })
        }
    }

    // MARK: Creates

    @Test func aCreateReturnsTheNewIDAndWhenItLanded() async throws {
        try await AmoHarness.run { amo in
            let outcomes = await amo.connector().deliver([
                Self.create(
                    "md-create-1",
                    [
                        "name": .text("Италия, Рим"), "price": .integer(210_000), "status": .text("7001000:7001002"),
                        "responsible_user_id": .text("6001002"), "custom_fields.900004": .text("501"),
                        "custom_fields.900001": .text("md-create-1"),
                    ])
            ])
            let created = try #require(Self.leads(amo, linkedTo: "md-create-1").first)
            #expect(outcomes == [.delivered(recordID: String(created.id), landedAt: SourceStamp(seconds: Int64(created.updatedAt)))])
            #expect(created.name == "Италия, Рим")
            #expect(created.statusID == AmoFixture.qualified)
            #expect(created.pipelineID == AmoFixture.pipeline)
            #expect(created.responsibleUserID == AmoFixture.ivan)
            #expect(created.values(ofField: AmoFixture.tourTypeField) == ["beach"])
            #expect(created.createdBy == 0 && created.updatedBy == 0, "a robot's create")
        }
    }

    @Test func aCreateWithoutAStageStartsInTheFirstMappedStageAndCarriesItsDeal() async throws {
        try await AmoHarness.run { amo in
            let outcomes = await amo.connector().deliver([Self.create("md-create-2", ["name": .text("Без этапа")])])
            let created = try #require(Self.leads(amo, linkedTo: "md-create-2").first, "master_deal_id is in the link field")
            #expect(outcomes == [.delivered(recordID: String(created.id), landedAt: SourceStamp(seconds: Int64(created.updatedAt)))])
            #expect(created.statusID == AmoFixture.newLead)
        }
    }

    /// Creates go out as one batch and are read back with one request (an onboarding can create hundreds).
    @Test func createsGoOutInOneBatchAndAreReadBackOnce() async throws {
        try await AmoHarness.run { amo in
            let connector = amo.connector()
            let deliveries = (1...3).map { Self.create("md-batch-\($0)", ["name": .text("Тур \($0)")], key: "create-batch-\($0)") }
            let outcomes = await connector.deliver(deliveries)
            #expect(outcomes.count == 3)
            for (index, outcome) in outcomes.enumerated() {
                let lead = try #require(Self.leads(amo, linkedTo: "md-batch-\(index + 1)").first, "each carries its own deal")
                #expect(lead.name == "Тур \(index + 1)")
                #expect(outcome == .delivered(recordID: String(lead.id), landedAt: SourceStamp(seconds: Int64(lead.updatedAt))))
            }
            #expect(amo.requests("POST /api/v4/leads") == 1 && amo.requests("GET /api/v4/leads") == 1)
            #expect(amo.requests("GET /api/v4/leads/{id}") == 0)
        }
    }

    /// amoCRM writes none of a batch with an invalid element: the batch goes again one by one, so only the
    /// invalid lead fails.
    @Test func anInvalidCreateInABatchFailsAloneAndTheOthersAreCreated() async throws {
        try await AmoHarness.run { amo in
            let outcomes = await amo.connector().deliver([
                Self.create("md-ok-1", ["name": .text("Верно 1")], key: "ok-1"),
                Self.create("md-bad", ["name": .text("Неверно"), "custom_fields.900004": .text("999")], key: "bad"),
                Self.create("md-ok-2", ["name": .text("Верно 2")], key: "ok-2"),
            ])
            #expect(outcomes.count == 3)
            #expect(Self.leads(amo, linkedTo: "md-ok-1").count == 1 && Self.leads(amo, linkedTo: "md-ok-2").count == 1)
            #expect(Self.leads(amo, linkedTo: "md-bad").isEmpty)
            #expect(outcomes[1].errorClass == .validation, "\(outcomes[1])")
            #expect(outcomes[0].errorClass == nil && outcomes[2].errorClass == nil)
            #expect(amo.requests("POST /api/v4/leads") == 4, "the batch, then each on its own")
        }
    }

    /// amoCRM has no idempotency key: the first attempt is written, its answer lost (504 from the edge);
    /// the retry must find the lead by `master_deal_id` instead of creating a second one.
    @Test func noDuplicateLeadAfterAnUncertainCreate() async throws {
        try await AmoHarness.run(account: {
            $0.gatewayTimeoutBatchSize = 0
            $0.gatewayTimeoutStillWrites = true
        }) { amo in
            let connector = amo.connector()
            let values: [String: FieldValue] = ["name": .text("Египет"), "custom_fields.900001": .text("md-uncertain")]
            let first = await connector.deliver([Self.create("md-uncertain", values, attempt: 0)])
            guard case .retryable(.serverError, 504, _, _) = first[0] else {
                Issue.record("the lost answer is worth retrying: \(first[0])")
                return
            }
            #expect(Self.leads(amo, linkedTo: "md-uncertain").count == 1, "amoCRM wrote it anyway")

            let retry = await connector.deliver([Self.create("md-uncertain", values, attempt: 1)])
            let lead = try #require(Self.leads(amo, linkedTo: "md-uncertain").first)
            #expect(retry == [.delivered(recordID: String(lead.id), landedAt: SourceStamp(seconds: Int64(lead.updatedAt)))])
            #expect(Self.leads(amo, linkedTo: "md-uncertain").count == 1, "exactly one lead holds the deal")
            #expect(amo.simulator.allLeads().count == 1)
            #expect(amo.requests("POST /api/v4/leads") == 1, "found, not created again")
        }
    }

    @Test func aRetryWhoseFirstAttemptWroteNothingCreatesOnce() async throws {
        try await AmoHarness.run { amo in
            let connector = amo.connector()
            _ = await connector.deliver([Self.update(try Self.seed(amo, count: 1)[0], ["price": .integer(1)])])  // tokens first
            var hang = FaultSettings()
            hang.timeoutRate = 1
            hang.hangMillis = 50
            amo.simulator.faults.update(hang)
            let values: [String: FieldValue] = ["name": .text("Таиланд"), "custom_fields.900001": .text("md-never-written")]
            let first = await connector.deliver([Self.create("md-never-written", values)])
            #expect(first[0].errorClass == .serverError, "\(first[0])")
            amo.simulator.faults.update(FaultSettings())
            let retry = await connector.deliver([Self.create("md-never-written", values, attempt: 1)])
            let leads = Self.leads(amo, linkedTo: "md-never-written")
            #expect(leads.count == 1)
            #expect(retry == [.delivered(recordID: String(leads[0].id), landedAt: SourceStamp(seconds: Int64(leads[0].updatedAt)))])
        }
    }

    /// The look-up sends the deal id as a query value: characters that mean something in a URL are escaped.
    @Test func theLookUpFindsADealIDThatNeedsEscaping() async throws {
        let masterID = "acc tour/42+b&x=1#7"
        try await AmoHarness.run(account: {
            $0.gatewayTimeoutBatchSize = 0
            $0.gatewayTimeoutStillWrites = true
        }) { amo in
            let connector = amo.connector()
            let values: [String: FieldValue] = ["name": .text("Сочи"), "custom_fields.900001": .text(masterID)]
            _ = await connector.deliver([Self.create(masterID, values)])
            #expect(Self.leads(amo, linkedTo: masterID).count == 1)
            let retry = await connector.deliver([Self.create(masterID, values, attempt: 2)])
            let lead = try #require(Self.leads(amo, linkedTo: masterID).first)
            #expect(retry == [.delivered(recordID: String(lead.id), landedAt: SourceStamp(seconds: Int64(lead.updatedAt)))])
            #expect(Self.leads(amo, linkedTo: masterID).count == 1)
        }
    }

    // MARK: What amoCRM answers

    @Test func anExpiredSubscriptionPausesTheConnector() async throws {
        try await AmoHarness.run { amo in
            let id = try Self.seed(amo, count: 1)[0]
            amo.simulator.setSubscriptionExpired(true)
            let outcomes = await amo.connector().deliver([
                Self.update(id, ["price": .integer(5)]), Self.create("md-402", ["name": .text("x")]),
            ])
            for outcome in outcomes {
                guard case .paused(.paymentRequired, 402, let reason) = outcome else {
                    Issue.record("\(outcome)")
                    continue
                }
                #expect(!reason.isEmpty)
            }
            #expect(Self.leads(amo, linkedTo: "md-402").isEmpty)
        }
    }

    @Test func aBlockedAccountPausesTheConnector() async throws {
        try await AmoHarness.run { amo in
            let id = try Self.seed(amo, count: 1)[0]
            let connector = amo.connector()
            _ = try await connector.fetch([String(id)], lineage: UUID())  // tokens first: the token endpoint is blocked too
            amo.simulator.block()
            let outcomes = await connector.deliver([Self.update(id, ["price": .integer(5)]), Self.create("md-403", ["name": .text("x")])])
            for outcome in outcomes {
                guard case .paused(.blocked, 403, let reason) = outcome else {
                    Issue.record("\(outcome)")
                    continue
                }
                #expect(reason.contains("support"))
            }
        }
    }

    /// A lead, and a connector that has its tokens already (the token endpoint would see the same faults).
    static func withWarmConnector(_ amo: AmoHarness, _ body: (AmoCRMConnector, Int) async throws -> Void) async throws {
        let id = try seed(amo, count: 1)[0]
        let connector = amo.connector()
        _ = try await connector.fetch([String(id)], lineage: UUID())
        try await body(connector, id)
        amo.simulator.faults.update(FaultSettings())
        #expect(amo.simulator.lead(id: id)?.price == 1000, "nothing was written")
    }

    @Test func aRateLimitedAnswerIsRetryable() async throws {
        try await AmoHarness.run { amo in
            try await Self.withWarmConnector(amo) { connector, id in
                var faults = FaultSettings()
                faults.rateLimitRate = 1
                amo.simulator.faults.update(faults)
                let outcomes = await connector.deliver([
                    Self.update(id, ["price": .integer(5)]), Self.create("md-429", ["name": .text("x")]),
                ])
                for outcome in outcomes {
                    guard case .retryable(.rateLimited, 429, _, nil) = outcome else {
                        Issue.record("429 is worth retrying later: \(outcome)")
                        continue
                    }
                }
            }
        }
    }

    @Test func serverErrorsAreRetryable() async throws {
        try await AmoHarness.run { amo in
            try await Self.withWarmConnector(amo) { connector, id in
                var faults = FaultSettings()
                faults.errorRate = 1
                amo.simulator.faults.update(faults)
                let failed = await connector.deliver([Self.update(id, ["price": .integer(5)]), Self.create("md-5xx", ["name": .text("x")])])
                for outcome in failed {
                    guard case .retryable(.serverError, 502, _, nil) = outcome else {
                        Issue.record("\(outcome)")
                        continue
                    }
                }
                faults = FaultSettings()
                faults.down = true
                amo.simulator.faults.update(faults)
                let down = await connector.deliver([Self.update(id, ["price": .integer(5)])])
                guard case .retryable(.serverError, 503, _, nil) = down[0] else {
                    Issue.record("\(down[0])")
                    return
                }
            }
        }
    }

    @Test func timeoutsAreRetryable() async throws {
        // Generous enough that the warm-up's token refresh and fetch finish on a busy host.
        try await AmoHarness.run(connectorYAML: "delivery: {request_timeout: 1s}") { amo in
            try await Self.withWarmConnector(amo) { connector, id in
                var faults = FaultSettings()
                faults.timeoutRate = 1
                faults.hangMillis = 2_500
                amo.simulator.faults.update(faults)
                let slow = await connector.deliver([Self.update(id, ["price": .integer(5)]), Self.create("md-slow", ["name": .text("x")])])
                for outcome in slow {
                    guard case .retryable(.timeout, nil, _, _) = outcome else {
                        Issue.record("\(outcome)")
                        continue
                    }
                }
            }
        }
    }

    @Test func aMissingLeadIsNotRetriedForever() async throws {
        try await AmoHarness.run { amo in
            let id = try Self.seed(amo, count: 1)[0]
            #expect(amo.simulator.deleteAsSalesperson(leadID: id, userID: AmoFixture.olga))
            let outcomes = await amo.connector().deliver([Self.update(id, ["price": .integer(5)])])
            guard case .permanent = outcomes[0] else {
                Issue.record("a deleted lead cannot be updated: \(outcomes[0])")
                return
            }
        }
    }
}
