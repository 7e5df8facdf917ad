import DealSyncCore
import Foundation
import NIOHTTP1

/// `dealsync validate --live` for amoCRM: the mapping's pipeline and statuses, custom fields and their enum
/// values, and the owner directory's users, against `/api/v4/leads/pipelines`, `/api/v4/leads/custom_fields`
/// and `/api/v4/users`.
extension AmoCRMConnector: AccountChecking {
    public func checkAccount() async throws -> AccountReport {
        let statuses = try await pipelineStatuses()
        let fields = try await customFields()
        let users = try await userIDs()
        var problems: [AccountProblem] = []

        if statuses[Int64(mapping.pipeline)] == nil {
            problems.append(
                AccountProblem(
                    mapping.location(of: "pipeline"),
                    "pipeline \(mapping.pipeline) does not exist in the account (it has \(statuses.keys.sorted().map(String.init).joined(separator: ", ")))"
                ))
        }
        var stageCount = 0
        for entry in mapping.stages.entries {
            for stage in entry.crm {
                stageCount += 1
                let parts = stage.key.split(separator: ":").compactMap { Int64($0) }
                let (pipeline, status) = parts.count == 2 ? (parts[0], parts[1]) : (Int64(mapping.pipeline), parts.first ?? -1)
                // 142 (won) and 143 (lost) belong to every pipeline.
                guard status != 142, status != 143 else { continue }
                guard let known = statuses[pipeline] else {
                    if pipeline != Int64(mapping.pipeline) {
                        problems.append(
                            AccountProblem(stage.location, "stage \(stage.key) (\(entry.canonical)): pipeline \(pipeline) does not exist"))
                    }
                    continue
                }
                if !known.contains(status) {
                    problems.append(
                        AccountProblem(
                            stage.location, "stage \(stage.key) (\(entry.canonical)): status \(status) is not in pipeline \(pipeline)"))
                }
            }
        }

        var fieldCount = 0
        var linkChecked = false
        for field in mapping.fields {
            guard let id = MappingFieldKey.amoCustomFieldID(field.crm) else { continue }
            fieldCount += 1
            if field.crm == mapping.linkField { linkChecked = true }
            guard let known = fields[id] else {
                problems.append(AccountProblem(field.location, "field \(field.name): custom field \(id) does not exist on leads"))
                continue
            }
            if field.transform == .boolean, known.type != "checkbox" {
                problems.append(
                    AccountProblem(field.location, "field \(field.name): custom field \(id) is a \(known.type) field, not a checkbox"))
            }
            if case .enumeration(let values) = field.transform {
                guard let enums = known.enums else {
                    problems.append(
                        AccountProblem(
                            field.location, "field \(field.name): custom field \(id) is a \(known.type) field without a list of values"))
                    continue
                }
                for (canonical, enumID) in values.sorted(by: { $0.key < $1.key }) where Int64(enumID).map({ !enums.contains($0) }) ?? true {
                    problems.append(
                        AccountProblem(
                            field.location,
                            "field \(field.name): \(canonical) → \(enumID) is not a value of custom field \(id) (it has \(enums.sorted().map(String.init).joined(separator: ", ")))"
                        ))
                }
            }
        }
        if !linkChecked, let id = MappingFieldKey.amoCustomFieldID(mapping.linkField) {
            fieldCount += 1
            if fields[id] == nil {
                problems.append(
                    AccountProblem(mapping.location(of: "link_field"), "link_field: custom field \(id) does not exist on leads"))
            }
        }

        for owner in mapping.owners.entries where Int64(owner.crm).map({ !users.contains($0) }) ?? true {
            problems.append(AccountProblem(owner.location, "owner \(owner.master): amoCRM user \(owner.crm) does not exist in the account"))
        }
        return AccountReport(
            checked:
                "pipeline \(mapping.pipeline): \(stageCount) stages, \(fieldCount) custom fields, \(mapping.owners.entries.count) owners",
            problems: problems)
    }

    /// Pipeline id → its status ids.
    private func pipelineStatuses() async throws -> [Int64: Set<Int64>] {
        let json = try await read("/api/v4/leads/pipelines")
        var result: [Int64: Set<Int64>] = [:]
        for pipeline in json?["_embedded"]?["pipelines"]?.array ?? [] {
            guard let id = pipeline["id"]?.int64 else { continue }
            result[id] = Set((pipeline["_embedded"]?["statuses"]?.array ?? []).compactMap { $0["id"]?.int64 })
        }
        return result
    }

    private struct KnownField {
        var type: String
        var enums: Set<Int64>?
    }

    private func customFields() async throws -> [Int64: KnownField] {
        var result: [Int64: KnownField] = [:]
        for field in try await allPages("/api/v4/leads/custom_fields", of: "custom_fields") {
            guard let id = field["id"]?.int64 else { continue }
            result[id] = KnownField(
                type: field["type"]?.string ?? "?", enums: field["enums"]?.array.map { Set($0.compactMap { $0["id"]?.int64 }) })
        }
        return result
    }

    private func userIDs() async throws -> Set<Int64> {
        Set(try await allPages("/api/v4/users", of: "users").compactMap { $0["id"]?.int64 })
    }

    /// Every item of a paged list (`_embedded.<key>`), 250 a page, up to 50 pages.
    private func allPages(_ path: String, of key: String) async throws -> [JSONValue] {
        var items: [JSONValue] = []
        for page in 1...50 {
            let batch = try await read("\(path)?limit=250&page=\(page)")?["_embedded"]?[key]?.array ?? []
            items += batch
            if batch.count < 250 { break }
        }
        return items
    }

    /// A GET whose 204 (nothing there) is `nil`; any other answer than 200 is an error naming the path.
    private func read(_ path: String) async throws -> JSONValue? {
        let response = try await request(.GET, path, lineage: nil)
        if response.status == 204 { return nil }
        guard response.status == 200 else { throw ConnectorError(status: response.status, "GET \(path)") }
        return JSONValue.parse(response.body)
    }
}
