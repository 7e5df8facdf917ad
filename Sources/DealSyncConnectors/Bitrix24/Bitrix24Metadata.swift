import DealSyncCore
import Foundation
import Synchronization

/// What the portal knows: the funnel's stages, the deal user fields and their list items, the users.
///
/// Bitrix24 silently drops unknown fields and stage ids, so dealsync checks every write against this first.
struct Bitrix24Metadata: Sendable {
    var stages: Set<String>
    var userFields: [String: Set<String>?]
    /// Each user field's `USER_TYPE_ID` (`string`, `enumeration`, `boolean`, ...).
    var userFieldTypes: [String: String] = [:]
    var users: [String: String?]

    static func load(client: Bitrix24Client, category: Int) async throws -> Bitrix24Metadata {
        let entity = category == 0 ? "DEAL_STAGE" : "DEAL_STAGE_\(category)"
        let statuses = try await client.call("crm.status.list", .object(["filter": .object(["ENTITY_ID": .string(entity)])]))
        guard statuses.status == 200, let items = statuses.result?.array else {
            throw client.failure(statuses, "crm.status.list")
        }
        let stages = Set(items.compactMap { $0["STATUS_ID"]?.text })
        let fields = try await client.call("crm.deal.userfield.list", .object([:]))
        guard fields.status == 200, let list = fields.result?.array else { throw client.failure(fields, "crm.deal.userfield.list") }
        var userFields: [String: Set<String>?] = [:]
        var types: [String: String] = [:]
        for field in list {
            guard let name = field["FIELD_NAME"]?.text else { continue }
            types[name] = field["USER_TYPE_ID"]?.text ?? "?"
            if field["USER_TYPE_ID"]?.text == "enumeration" {
                userFields[name] = Set((field["LIST"]?.array ?? []).compactMap { $0["ID"]?.text })
            } else {
                userFields[name] = .some(nil)
            }
        }
        var users: [String: String?] = [:]
        var start = 0
        repeat {
            let page = try await client.call("user.get", .object(["start": .number(String(start))]))
            guard page.status == 200, let list = page.result?.array else { throw client.failure(page, "user.get") }
            for user in list { if let id = user["ID"]?.text { users[id] = user["EMAIL"]?.text } }
            guard let next = page.json["next"]?.int64 else { break }
            start = Int(next)
        } while start < 10_000
        return Bitrix24Metadata(stages: stages, userFields: userFields, userFieldTypes: types, users: users)
    }

    /// Why a write would be dropped by Bitrix24, if it would.
    func problem(with values: [String: FieldValue]) -> String? {
        for (key, value) in values {
            if key == "STAGE_ID", let stage = value.plainText, !stages.contains(stage) {
                return "stage \(stage) does not exist in the funnel"
            }
            if key.hasPrefix("UF_") {
                guard let allowed = userFields[key] else { return "user field \(key) does not exist on the portal" }
                if let items = allowed, let item = value.plainText, !items.contains(item) {
                    return "\(item) is not an item of the list field \(key)"
                }
            }
            if key == "ASSIGNED_BY_ID", let user = value.plainText, users[user] == nil {
                return "user \(user) does not exist on the portal"
            }
        }
        return nil
    }
}

/// Metadata loaded once and reloaded every ten minutes.
final class Bitrix24MetadataCache: Sendable {
    private let state = Mutex<(metadata: Bitrix24Metadata?, loadedAt: Date)>((nil, .distantPast))

    func get(client: Bitrix24Client, category: Int) async throws -> Bitrix24Metadata {
        if let (metadata, at) = state.withLock({ s in s.metadata.map { ($0, s.loadedAt) } }), Date().timeIntervalSince(at) < 600 {
            return metadata
        }
        let loaded = try await Bitrix24Metadata.load(client: client, category: category)
        state.withLock { $0 = (loaded, Date()) }
        return loaded
    }
}
