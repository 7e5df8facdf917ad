import DealSyncCore
import Foundation
import Logging
import NIOHTTP1

extension AmoCRMConnector {
    /// Updates go out as batch `PATCH /api/v4/leads` and creates as batch `POST /api/v4/leads` (up to the configured
    /// batch size), each new lead with `master_deal_id` in the link field; a create tried before is sent on its own,
    /// after a look-up by that id, so a lead is never created twice.
    public func deliver(_ deliveries: [Delivery]) async -> [DeliveryOutcome] {
        await DeliveryTracing.traced(deliveries, target: config.id) { await send(deliveries) }
    }

    func send(_ deliveries: [Delivery]) async -> [DeliveryOutcome] {
        var outcomes = [DeliveryOutcome?](repeating: nil, count: deliveries.count)
        let updates = deliveries.indices.filter { deliveries[$0].operation == .update }
        let creates = deliveries.indices.filter { deliveries[$0].operation == .create }
        for chunk in stride(from: 0, to: creates.count, by: config.delivery.batchSize) {
            let batch = Array(creates[chunk..<min(chunk + config.delivery.batchSize, creates.count)])
            let results = await create(batch: batch.map { deliveries[$0] })
            for (index, outcome) in zip(batch, results) { outcomes[index] = outcome }
        }
        for chunk in stride(from: 0, to: updates.count, by: config.delivery.batchSize) {
            let batch = Array(updates[chunk..<min(chunk + config.delivery.batchSize, updates.count)])
            let results = await update(batch.map { deliveries[$0] })
            for (index, outcome) in zip(batch, results) { outcomes[index] = outcome }
        }
        return outcomes.map { $0 ?? .retryable(.serverError, status: nil, detail: "not attempted", retryAfter: nil) }
    }

    // MARK: Updates

    func update(_ batch: [Delivery]) async -> [DeliveryOutcome] {
        var pending = Array(batch.indices)
        var outcomes = [DeliveryOutcome?](repeating: nil, count: batch.count)
        for index in batch.indices where batch[index].recordID.flatMap(Int64.init) == nil {
            outcomes[index] = .permanent(.validation, status: nil, detail: "no amoCRM lead id to update")
            pending.removeAll { $0 == index }
        }
        while !pending.isEmpty {
            let body = JSONValue.array(
                pending.map {
                    var element = AmoLeadJSON.body(for: batch[$0].values, mapping: mapping, id: Int64(batch[$0].recordID!))
                    if case .object(var object) = element {
                        object["request_id"] = .string(String($0))
                        element = .object(object)
                    }
                    return element
                })
            let response: HTTPResponse
            do {
                response = try await request(.PATCH, "/api/v4/leads", body: body, lineage: batch[pending[0]].lineageID)
            } catch {
                for index in pending { outcomes[index] = failure(error) }
                break
            }
            switch response.status {
            case 200:
                let leads = JSONValue.parse(response.body)?["_embedded"]?["leads"]?.array ?? []
                var stamps: [String: Int64] = [:]
                for lead in leads { if let id = lead["id"]?.int64 { stamps[String(id)] = lead["updated_at"]?.int64 } }
                for index in pending {
                    let id = batch[index].recordID!
                    outcomes[index] = .delivered(recordID: id, landedAt: stamps[id].map { SourceStamp(seconds: $0) })
                }
                pending = []
            case 400:
                // All or nothing: the elements the answer names fail for good, the rest go again.
                let rejection = AmoRejection(response)
                let failing = pending.filter { rejection.names(requestID: String($0), leadID: batch[$0].recordID) }
                guard !failing.isEmpty else {
                    for index in pending {
                        outcomes[index] = .permanent(.validation, status: 400, detail: response.excerpt(redacting: staticSecrets))
                    }
                    pending = []
                    break
                }
                for index in failing {
                    let detail =
                        rejection.message(forLead: batch[index].recordID).map { "Invalid request body: \($0)" }
                        .map { Redaction.redact($0, secrets: staticSecrets) } ?? response.excerpt(redacting: staticSecrets)
                    outcomes[index] = .permanent(.validation, status: 400, detail: detail)
                }
                pending.removeAll { failing.contains($0) }
            case 504 where pending.count > 1:
                // The batch was too big for amoCRM: send halves.
                let half = pending.count / 2
                let first = await update(pending.prefix(half).map { batch[$0] })
                let second = await update(pending.dropFirst(half).map { batch[$0] })
                for (index, outcome) in zip(pending, first + second) { outcomes[index] = outcome }
                pending = []
            default:
                for index in pending { outcomes[index] = classify(response) }
                pending = []
            }
        }
        return outcomes.map { $0 ?? .retryable(.serverError, status: nil, detail: "not attempted", retryAfter: nil) }
    }

    // MARK: Creates

    /// Creates the first attempts of `batch` with one request and reads them back with one more; a create tried
    /// before goes alone (``create(_:)``, which looks it up first). A batch amoCRM refuses as invalid (it writes
    /// none of it) goes again one by one, so only the invalid leads fail; any other failure may have written the
    /// leads, so each is retried, and the retry looks it up.
    func create(batch: [Delivery]) async -> [DeliveryOutcome] {
        var outcomes = [DeliveryOutcome?](repeating: nil, count: batch.count)
        var fresh: [Int] = []
        for index in batch.indices {
            if batch[index].attempt > 0 { outcomes[index] = await create(batch[index]) } else { fresh.append(index) }
        }
        if fresh.count == 1 { outcomes[fresh[0]] = await create(batch[fresh[0]]) }
        guard fresh.count > 1 else {
            return outcomes.map { $0 ?? .retryable(.serverError, status: nil, detail: "not attempted", retryAfter: nil) }
        }
        let lineage = batch[fresh[0]].lineageID
        do {
            let response = try await request(
                .POST, "/api/v4/leads", body: .array(fresh.map { createElement(for: batch[$0]) }), lineage: lineage)
            switch response.status {
            case 200:
                var created: [String: Int64] = [:]
                for lead in JSONValue.parse(response.body)?["_embedded"]?["leads"]?.array ?? [] {
                    if let id = lead["id"]?.int64, let requestID = lead["request_id"]?.string { created[requestID] = id }
                }
                // amoCRM's create answer has no updated_at; one read of the new leads tells when they landed.
                let stamps = (try? await updatedAt(of: Array(created.values), lineage: lineage)) ?? [:]
                for index in fresh {
                    guard let id = created[batch[index].idempotencyKey] else {
                        outcomes[index] = .retryable(
                            .serverError, status: 200, detail: "a create answer without this lead", retryAfter: nil)
                        continue
                    }
                    outcomes[index] = .delivered(recordID: String(id), landedAt: stamps[id].map { SourceStamp(seconds: $0) })
                }
            case 400:
                for index in fresh { outcomes[index] = await create(batch[index]) }
            default:
                for index in fresh { outcomes[index] = classify(response) }
            }
        } catch {
            for index in fresh { outcomes[index] = failure(error) }
        }
        return outcomes.map { $0 ?? .retryable(.serverError, status: nil, detail: "not attempted", retryAfter: nil) }
    }

    /// One new lead as the create body's element: `master_deal_id` in the link field, the first stage when none
    /// is mapped, the delivery's idempotency key as its `request_id`.
    func createElement(for delivery: Delivery) -> JSONValue {
        var values = delivery.values
        // The look-up of a retried create finds a lead only by the deal in its link field: it must be written with it.
        if let masterID = delivery.masterDealID, linkFieldID != nil, values[mapping.linkField] == nil {
            values[mapping.linkField] = .text(masterID)
        }
        if values["status"] == nil, let first = mapping.stages.entries.first?.crm.first?.key { values["status"] = .text(first) }
        var element = AmoLeadJSON.body(for: values, mapping: mapping, id: nil)
        if case .object(var object) = element {
            object["request_id"] = .string(delivery.idempotencyKey)
            if object["pipeline_id"] == nil { object["pipeline_id"] = .number(String(mapping.pipeline)) }
            object["created_by"] = .number("0")
            element = .object(object)
        }
        return element
    }

    /// When each of `ids` was last changed, in one read (`filter[id][]`).
    func updatedAt(of ids: [Int64], lineage: UUID) async throws -> [Int64: Int64] {
        guard !ids.isEmpty else { return [:] }
        let filter = ids.map { "filter[id][]=\($0)" }.joined(separator: "&")
        let response = try await request(.GET, Self.encoded("/api/v4/leads?\(filter)&limit=\(Self.pageSize)"), lineage: lineage)
        guard response.status == 200 else { return [:] }
        var stamps: [Int64: Int64] = [:]
        for lead in JSONValue.parse(response.body)?["_embedded"]?["leads"]?.array ?? [] {
            if let id = lead["id"]?.int64, let updated = lead["updated_at"]?.int64 { stamps[id] = updated }
        }
        return stamps
    }

    func create(_ delivery: Delivery) async -> DeliveryOutcome {
        do {
            if delivery.attempt > 0, let masterID = delivery.masterDealID,
                let existing = try await lookup(masterDealID: masterID, lineage: delivery.lineageID)
            {
                // An earlier attempt did create it; its answer was lost.
                logger.info(
                    "lead found by master_deal_id; not created again",
                    metadata: [
                        "lead": "\(existing)", "lineage_id": "\(delivery.lineageID.uuidString.lowercased())",
                    ])
                return .delivered(recordID: existing, landedAt: try? await updatedAt(of: Int64(existing) ?? 0, lineage: delivery.lineageID))
            }
            let response = try await request(
                .POST, "/api/v4/leads", body: .array([createElement(for: delivery)]), lineage: delivery.lineageID)
            guard response.status == 200 else { return classify(response) }
            guard let id = JSONValue.parse(response.body)?["_embedded"]?["leads"]?[0]?["id"]?.int64 else {
                return .retryable(.serverError, status: 200, detail: "a create answer without a lead id", retryAfter: nil)
            }
            // amoCRM's create answer has no updated_at; read the lead so the engine knows when the write landed.
            return .delivered(recordID: String(id), landedAt: try? await updatedAt(of: id, lineage: delivery.lineageID))
        } catch {
            return failure(error)
        }
    }

    func updatedAt(of id: Int64, lineage: UUID) async throws -> SourceStamp? {
        let response = try await request(.GET, "/api/v4/leads/\(id)", lineage: lineage)
        guard response.status == 200 else { return nil }
        return JSONValue.parse(response.body)?["updated_at"]?.int64.map { SourceStamp(seconds: $0) }
    }

    // MARK: Classifying

    func classify(_ response: HTTPResponse) -> DeliveryOutcome {
        let detail = response.excerpt(redacting: staticSecrets)
        switch response.status {
        case 400, 422: return .permanent(.validation, status: response.status, detail: detail)
        case 404: return .permanent(.notFound, status: 404, detail: detail)
        case 401: return .paused(.auth, status: 401, reason: "amoCRM refused the access token after a refresh")
        case 402: return .paused(.paymentRequired, status: 402, reason: "the amoCRM subscription has expired")
        case 403: return .paused(.blocked, status: 403, reason: "amoCRM blocked the account (HTTP 403); ask amoCRM support to lift it")
        case 429: return .retryable(.rateLimited, status: 429, detail: "amoCRM rate limit (7 requests/s)", retryAfter: nil)
        default: return .retryable(.serverError, status: response.status, detail: detail, retryAfter: nil)
        }
    }

    func failure(_ error: any Error) -> DeliveryOutcome {
        switch error {
        case let error as TransportError:
            return .retryable(error.errorClass, status: nil, detail: error.description, retryAfter: nil)
        case let error as OAuthGrantLost:
            return .paused(.auth, status: nil, reason: error.description)
        case let error as ConnectorError:
            // An unexpected answer on the way (the token endpoint failing): keep its status for support.
            return .retryable(
                error.status == 429 ? .rateLimited : .serverError, status: error.status,
                detail: Redaction.redact(error.description, secrets: staticSecrets), retryAfter: nil)
        case is CancellationError:
            return .retryable(.timeout, status: nil, detail: "cancelled", retryAfter: nil)
        default:
            return .retryable(.serverError, status: nil, detail: Redaction.redact("\(error)", secrets: staticSecrets), retryAfter: nil)
        }
    }
}
