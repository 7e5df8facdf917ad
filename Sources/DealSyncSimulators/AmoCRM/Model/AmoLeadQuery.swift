import Foundation

/// The query of `GET /api/v4/leads`: paging, `filter[...]`, `order[...]`, `query`, `with`.
struct AmoLeadQuery: Sendable, Equatable {
    static let maxLimit = 250

    var page = 1
    var limit = 50
    var ids: [Int]?
    var updatedAt: ClosedRange<Int>?
    var createdAt: ClosedRange<Int>?
    var pipelineIDs: [Int]?
    var responsibleUserIDs: [Int]?
    var search: String?
    var orderKey = "id"
    var ascending = true
    var with: Set<String> = []

    /// Parses a raw query string (PHP bracket keys, percent-encoded or not).
    static func parse(_ raw: String?) -> AmoLeadQuery {
        var query = AmoLeadQuery()
        guard let raw, !raw.isEmpty else { return query }
        let form = QueryForm.parse(raw)
        if let page = form["page"]?.string.flatMap({ Int($0) }), page > 0 { query.page = page }
        if let limit = form["limit"]?.string.flatMap({ Int($0) }), limit > 0 { query.limit = min(limit, maxLimit) }
        if let text = form["query"]?.string, !text.isEmpty { query.search = text }
        if let with = form["with"]?.string {
            query.with = Set(with.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        }
        if let filter = form["filter"] {
            query.ids = integers(filter["id"])
            query.updatedAt = range(filter["updated_at"])
            query.createdAt = range(filter["created_at"])
            query.pipelineIDs = integers(filter["pipeline_id"])
            query.responsibleUserIDs = integers(filter["responsible_user_id"])
        }
        if let order = form["order"]?.map, let (key, value) = order.entries.first,
            ["id", "created_at", "updated_at"].contains(key), let direction = value.string?.lowercased()
        {
            query.orderKey = key
            query.ascending = direction != "desc"
        }
        return query
    }

    /// `filter[id]=5`, `filter[id][]=5&filter[id][]=6`, `filter[id][0]=5`.
    private static func integers(_ value: QueryForm.Value?) -> [Int]? {
        switch value {
        case .string(let text)?: return text.split(separator: ",").compactMap { Int($0) }
        case .map(let map)?: return map.entries.compactMap { $0.value.string.flatMap { Int($0) } }
        case nil: return nil
        }
    }

    /// `filter[updated_at]=<unix>` or `filter[updated_at][from]=...&[to]=...` (both ends inclusive).
    private static func range(_ value: QueryForm.Value?) -> ClosedRange<Int>? {
        switch value {
        case .string(let text)?: return Int(text).map { $0...$0 }
        case .map(let map)?:
            let from = map["from"]?.string.flatMap { Int($0) } ?? Int.min
            let to = map["to"]?.string.flatMap { Int($0) } ?? Int.max
            return from <= to ? from...to : nil
        case nil: return nil
        }
    }

    /// The requested page of matching leads and whether another page follows.
    func select(from leads: [AmoLead], catalog: AmoCatalog, unsearchable: Set<Int> = []) -> (leads: [AmoLead], hasMore: Bool) {
        var matching = leads.filter { lead in
            if let ids, !ids.contains(lead.id) { return false }
            if let updatedAt, !updatedAt.contains(lead.updatedAt) { return false }
            if let createdAt, !createdAt.contains(lead.createdAt) { return false }
            if let pipelineIDs, !pipelineIDs.contains(lead.pipelineID) { return false }
            if let responsibleUserIDs, !responsibleUserIDs.contains(lead.responsibleUserID) { return false }
            if let search, unsearchable.contains(lead.id) || !Self.matches(lead, search) { return false }
            return true
        }
        matching.sort { a, b in
            let (ka, kb) =
                switch orderKey {
                case "updated_at": (a.updatedAt, b.updatedAt)
                case "created_at": (a.createdAt, b.createdAt)
                default: (a.id, b.id)
                }
            if ka != kb { return ascending ? ka < kb : ka > kb }
            return ascending ? a.id < b.id : a.id > b.id
        }
        let start = (page - 1) * limit
        guard start < matching.count else { return ([], false) }
        let end = min(start + limit, matching.count)
        return (Array(matching[start..<end]), end < matching.count)
    }

    /// amoCRM's `query` searches the name and every filled field, case-insensitively.
    static func matches(_ lead: AmoLead, _ text: String) -> Bool {
        let needle = text.lowercased()
        if lead.name.lowercased().contains(needle) { return true }
        return lead.customFields.contains { $0.values.contains { $0.value.lowercased().contains(needle) } }
    }

    /// The query string for another page, keeping every other parameter as sent.
    static func link(raw: String?, page: Int, limit: Int) -> String {
        var parts = (raw ?? "").split(separator: "&").map(String.init).filter { !$0.hasPrefix("page=") && !$0.hasPrefix("limit=") }
        parts.append("limit=\(limit)")
        parts.append("page=\(page)")
        return parts.joined(separator: "&")
    }
}
