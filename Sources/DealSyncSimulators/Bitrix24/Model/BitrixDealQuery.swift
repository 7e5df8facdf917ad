import Foundation

/// `crm.deal.list {select, filter, order, start}`: fixed pages of 50 selected with `start`, as the portal's
/// `CDBResult` navigation does (`start` is rounded down to a page; `start=-1` skips the count).
struct BitrixDealQuery: Sendable {
    static let pageSize = 50

    var fields: [String]
    var userFields: [String]
    var filter: BitrixDealFilter
    var order: [(field: String, descending: Bool)]
    var start: Int

    struct Page: Sendable {
        var deals: [BitrixDeal]
        /// The number of matching deals; 0 when `start` was negative (no count).
        var total: Int
        var next: Int?
        /// Whether the portal counted the matches (costs execution time).
        var counted: Bool
    }

    init(_ params: QueryForm.Map, portal: BitrixPortal) throws(BitrixError) {
        let orderValue = params.crmParameter("order")
        if case .string? = orderValue { throw .mustBeArray("order") }
        let filterValue = params.crmParameter("filter")
        if case .string? = filterValue { throw .mustBeArray("filter") }
        (fields, userFields) = Self.selection(params.crmParameter("select"), portal: portal)
        filter = BitrixDealFilter(filterValue?.map ?? QueryForm.Map(), portal: portal)
        order = (orderValue?.map?.entries ?? []).compactMap { entry in
            let field = entry.key.uppercased()
            guard BitrixDealSchema.filterType(field, portal: portal) != nil else { return nil }
            return (field, entry.value.string?.trimmingCharacters(in: .whitespaces).uppercased() == "DESC")
        }
        start = params["start"]?.string.map(BitrixDealWrite.phpInt) ?? 0
    }

    /// `select`: nothing or `*` gives the standard fields, `UF_*` every user field, names pick fields; `ID` is
    /// always there. Unknown names are ignored.
    static func selection(_ value: QueryForm.Value?, portal: BitrixPortal) -> ([String], [String]) {
        let names: [String]
        switch value {
        case .string(let text)?: names = text.isEmpty ? [] : [text.uppercased()]
        case .map(let map)?: names = map.entries.compactMap { $0.value.string?.uppercased() }
        case nil: names = []
        }
        let all = names.isEmpty || names.contains("*")
        let standard = BitrixDealSchema.names.filter { all || $0 == "ID" || names.contains($0) }
        let user = portal.userFields.map(\.name).filter { names.contains("UF_*") || names.contains($0) }
        return (standard, user)
    }

    func run(on deals: [BitrixDeal], portal: BitrixPortal) -> Page {
        let matching = deals.filter { filter.matches($0, portal: portal) }
        let sorted = matching.sorted { lhs, rhs in
            for (field, descending) in order {
                let a = sortKey(field, lhs, portal)
                let b = sortKey(field, rhs, portal)
                if a != b { return descending ? a > b : a < b }
            }
            return lhs.id < rhs.id
        }
        guard start >= 0 else {
            return Page(deals: Array(sorted.prefix(Self.pageSize)), total: 0, next: nil, counted: false)
        }
        let page = start / Self.pageSize
        let offset = page * Self.pageSize
        let rows = offset < sorted.count ? Array(sorted[offset..<min(offset + Self.pageSize, sorted.count)]) : []
        let pageCount = (sorted.count + Self.pageSize - 1) / Self.pageSize
        let next = page + 1 < pageCount ? (page + 1) * Self.pageSize : nil
        return Page(deals: rows, total: sorted.count, next: next, counted: true)
    }

    /// `STAGE_ID` sorts by the stage's position in its funnel, as the portal's `STAGE_SORT` does.
    private func sortKey(_ field: String, _ deal: BitrixDeal, _ portal: BitrixPortal) -> BitrixSortKey {
        if field == "STAGE_ID" { return portal.stage(deal.stageID).map { .number(.init($0.stage.sort)) } ?? .null }
        return BitrixDealSchema.key(field, of: deal, portal: portal) ?? .null
    }
}
