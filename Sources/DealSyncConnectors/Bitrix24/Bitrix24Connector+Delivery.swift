import DealSyncCore
import Foundation
import Logging

extension Bitrix24Connector {
    /// Packs writes into `batch` calls (`halt=0`): each update is followed by a `crm.deal.get` of the same deal so
    /// the landing `DATE_MODIFY` is known; creates set `ORIGINATOR_ID` + `ORIGIN_ID` and, after an uncertain
    /// failure, look the deal up by them first. Every write is checked against the portal's stages and fields
    /// before it is sent, because Bitrix24 drops unknown ones without a word.
    public func deliver(_ deliveries: [Delivery]) async -> [DeliveryOutcome] {
        await DeliveryTracing.traced(deliveries, target: config.id) { await send(deliveries) }
    }

    func send(_ deliveries: [Delivery]) async -> [DeliveryOutcome] {
        var outcomes = [DeliveryOutcome?](repeating: nil, count: deliveries.count)
        let known: Bitrix24Metadata
        do {
            known = try await metadata.get(client: client, category: mapping.pipeline)
        } catch {
            return deliveries.map { _ in failure(error) }
        }
        var commands: [(key: String, command: String, index: Int, isGet: Bool)] = []
        for (index, delivery) in deliveries.enumerated() {
            if let problem = known.problem(with: delivery.values) {
                outcomes[index] = .permanent(.validation, status: nil, detail: "not sent: \(problem)")
                continue
            }
            switch delivery.operation {
            case .update:
                guard let id = delivery.recordID, Int64(id) != nil else {
                    outcomes[index] = .permanent(.validation, status: nil, detail: "no Bitrix24 deal id to update")
                    continue
                }
                var pairs = [("id", id)] + Bitrix24Deal.fieldPairs(delivery.values) + [("params[REGISTER_SONET_EVENT]", "N")]
                if delivery.values["ORIGIN_ID"] != nil, mapping.linkField == "ORIGIN_ID" {
                    pairs.append(("fields[ORIGINATOR_ID]", mapping.originator))
                }
                // Bitrix24 runs a batch's commands in order: each update is read back right after it.
                commands.append((Self.key(index), Bitrix24Deal.command("crm.deal.update", pairs), index, false))
                commands.append((Self.key(index) + "r", Bitrix24Deal.command("crm.deal.get", [("id", id)]), index, true))
            case .create:
                outcomes[index] = await create(delivery, known: known)
            }
        }
        // A batch holds 50 commands: 25 updates with their reads.
        for start in stride(from: 0, to: commands.count, by: 50) {
            let chunk = Array(commands[start..<min(start + 50, commands.count)])
            let cmd = JSONValue.object(Dictionary(chunk.map { ($0.key, JSONValue.string($0.command)) }, uniquingKeysWith: { a, _ in a }))
            let answer: Bitrix24Client.Answer
            do {
                answer = try await client.call(
                    "batch", .object(["halt": .number("0"), "cmd": cmd]), lineage: deliveries[chunk[0].index].lineageID)
            } catch {
                for entry in chunk where !entry.isGet { outcomes[entry.index] = failure(error) }
                continue
            }
            guard answer.status == 200, let result = answer.result else {
                for entry in chunk where !entry.isGet { outcomes[entry.index] = classify(answer) }
                continue
            }
            let errors = Self.commandErrors(result["result_error"])
            for entry in chunk where !entry.isGet {
                let id = deliveries[entry.index].recordID ?? ""
                if let error = errors[entry.key] {
                    outcomes[entry.index] = classify(code: error.code, description: error.description, status: 400)
                } else if result["result"]?[entry.key] == .bool(true) || result["result"]?[entry.key]?.text == "true" {
                    let read = result["result"]?[entry.key + "r"]
                    let landed = read?["DATE_MODIFY"]?.string.flatMap(Timestamp.parseSeconds).map { SourceStamp(seconds: $0) }
                    outcomes[entry.index] = .delivered(recordID: id, landedAt: landed)
                } else {
                    outcomes[entry.index] = .retryable(
                        .serverError, status: 200, detail: "batch gave no result for \(entry.key)", retryAfter: nil)
                }
            }
        }
        return outcomes.map { $0 ?? .retryable(.serverError, status: nil, detail: "not attempted", retryAfter: nil) }
    }

    /// Command keys that keep their order when the batch's JSON keys are sorted.
    static func key(_ index: Int) -> String { "w" + String(format: "%04d", index) }

    /// `result_error` is keyed by command, or — in some real responses — a list; `[]` when empty.
    static func commandErrors(_ json: JSONValue?) -> [String: (code: String, description: String)] {
        var errors: [String: (String, String)] = [:]
        switch json {
        case .object(let object)?:
            for (key, value) in object {
                errors[key] = (value["error"]?.text ?? "", value["error_description"]?.text ?? "")
            }
        case .array(let items)?:
            for item in items {
                guard let key = item["key"]?.text ?? item["cmd"]?.text else { continue }
                errors[key] = (item["error"]?.text ?? "", item["error_description"]?.text ?? "")
            }
        default:
            break
        }
        return errors
    }

    func create(_ delivery: Delivery, known: Bitrix24Metadata) async -> DeliveryOutcome {
        do {
            guard let masterID = delivery.masterDealID ?? delivery.values[mapping.linkField]?.plainText else {
                return .permanent(.validation, status: nil, detail: "a create without its master_deal_id")
            }
            if delivery.attempt > 0, let existing = try await lookup(masterDealID: masterID, lineage: delivery.lineageID) {
                logger.info("deal found by ORIGIN_ID; not created again", metadata: ["deal": "\(existing)"])
                return .delivered(recordID: existing, landedAt: try await landing(of: existing, lineage: delivery.lineageID))
            }
            var values = delivery.values
            if values["STAGE_ID"] == nil, let first = mapping.stages.entries.first?.crm.first?.key { values["STAGE_ID"] = .text(first) }
            var pairs = Bitrix24Deal.fieldPairs(values) + [("fields[CATEGORY_ID]", String(mapping.pipeline))]
            if mapping.linkField == "ORIGIN_ID" {
                pairs.append(("fields[ORIGINATOR_ID]", mapping.originator))
            }
            pairs.append(("params[REGISTER_SONET_EVENT]", "N"))
            var fields: [String: JSONValue] = [:]
            for (key, value) in pairs where key.hasPrefix("fields[") {
                fields[String(key.dropFirst(7).dropLast())] = .string(value)
            }
            let answer = try await client.call(
                "crm.deal.add", .object(["fields": .object(fields), "params": .object(["REGISTER_SONET_EVENT": .string("N")])]),
                lineage: delivery.lineageID)
            guard answer.status == 200, let id = answer.result?.int64 else { return classify(answer) }
            return .delivered(recordID: String(id), landedAt: try await landing(of: String(id), lineage: delivery.lineageID))
        } catch {
            return failure(error)
        }
    }

    /// Finds the deal dealsync created for `masterDealID` (`ORIGINATOR_ID` + `ORIGIN_ID`, or the UF link field).
    func lookup(masterDealID: String, lineage: UUID) async throws -> String? {
        let filter: [String: JSONValue] =
            mapping.linkField == "ORIGIN_ID"
            ? ["ORIGINATOR_ID": .string(mapping.originator), "ORIGIN_ID": .string(masterDealID)]
            : [mapping.linkField: .string(masterDealID)]
        let answer = try await client.call(
            "crm.deal.list", .object(["filter": .object(filter), "select": .array([.string("ID")])]), lineage: lineage)
        guard answer.status == 200 else { throw client.failure(answer, "crm.deal.list by ORIGIN_ID") }
        return answer.result?.array?.first?["ID"]?.text
    }

    func landing(of id: String, lineage: UUID) async throws -> SourceStamp? {
        let answer = try await client.call("crm.deal.get", .object(["id": .string(id)]), lineage: lineage)
        return answer.result?["DATE_MODIFY"]?.string.flatMap(Timestamp.parseSeconds).map { SourceStamp(seconds: $0) }
    }

    func classify(_ answer: Bitrix24Client.Answer) -> DeliveryOutcome {
        if answer.status == 429, answer.errorCode == "OPERATION_TIME_LIMIT" {
            let wait = Bitrix24Client.resetIn(answer.json["time"]).map { max(1, $0) } ?? 60
            return .retryable(.rateLimited, status: 429, detail: "OPERATION_TIME_LIMIT", retryAfter: .seconds(Int64(wait.rounded(.up))))
        }
        return classify(code: answer.errorCode ?? "", description: answer.errorDescription, status: answer.status)
    }

    func classify(code: String, description: String, status: Int) -> DeliveryOutcome {
        if let refusal = Self.refusal(code: code, description: description, status: status) { return refusal.outcome }
        let detail = "\(code.isEmpty ? "(empty code)" : code): \(description)"
        switch (status, code) {
        case (503, _) where code == "QUERY_LIMIT_EXCEEDED":
            return .retryable(.rateLimited, status: 503, detail: detail, retryAfter: .seconds(1))
        case (_, "OPERATION_TIME_LIMIT"), (_, "QUERY_LIMIT_EXCEEDED"):
            // A batch command refused by a limit: nothing was written; it goes again once the method has time.
            return .retryable(.rateLimited, status: status, detail: detail, retryAfter: .seconds(60))
        case (400, "") where description.lowercased().contains("not found"):
            return .permanent(.notFound, status: status, detail: detail)
        case (500..., _), (_, "INTERNAL_SERVER_ERROR"), (_, "OVERLOAD_LIMIT"):
            return .retryable(.serverError, status: status, detail: detail, retryAfter: nil)
        default:
            return .permanent(.validation, status: status, detail: detail)
        }
    }

    /// A refusal only a person can lift, with what to do about it; nil for any other answer.
    static func refusal(code: String, description: String, status: Int) -> ConnectorPaused? {
        let said = description.isEmpty ? code : "\(code): \(description.prefix(200))"
        switch (status, code) {
        case (_, "expired_token"), (_, "NO_AUTH_FOUND"), (_, "INVALID_CREDENTIALS"), (_, "insufficient_scope"):
            return ConnectorPaused(.auth, status: status, reason: "Bitrix24 refused dealsync's credentials (\(said))")
        case (_, "wrong_client"):
            return ConnectorPaused(
                .auth, status: status,
                reason: """
                    Bitrix24 says the access token belongs to another application (\(said)): the application was installed \
                    again or the connector's client_id is not its own; check auth.oauth in the connector's configuration and \
                    authorise the application again
                    """)
        case (_, "PAYMENT_REQUIRED"), (402, _):
            return ConnectorPaused(
                .paymentRequired, status: status,
                reason: """
                    the application's Bitrix24 subscription has ended (\(said)); renew it in Bitrix24.Market, then resume the \
                    connector (writes wait in the outbox)
                    """)
        case (_, "ACCESS_DENIED"), (403, _):
            return ConnectorPaused(.blocked, status: status, reason: "Bitrix24 denied access (\(said))")
        default:
            return nil
        }
    }

    func failure(_ error: any Error) -> DeliveryOutcome {
        switch error {
        case let error as ConnectorPaused: error.outcome
        case let error as TransportError: .retryable(error.errorClass, status: nil, detail: error.description, retryAfter: nil)
        case let error as OAuthGrantLost: .paused(.auth, status: nil, reason: error.description)
        default: .retryable(.serverError, status: nil, detail: Redaction.redact("\(error)", secrets: client.secrets), retryAfter: nil)
        }
    }
}
