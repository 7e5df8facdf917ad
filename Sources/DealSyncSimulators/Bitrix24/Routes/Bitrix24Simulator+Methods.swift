/// The REST methods the simulated portal knows; every other name answers 404 `ERROR_METHOD_NOT_FOUND`.
extension Bitrix24Simulator {
    static let methodNames: Set<String> = [
        "crm.deal.get", "crm.deal.list", "crm.deal.add", "crm.deal.update", "crm.deal.delete", "crm.deal.fields",
        "crm.deal.userfield.list", "crm.category.list", "crm.status.list", "user.get", "user.current", "profile",
        "crm.dealcategory.list", "crm.dealcategory.stage.list", "crm.status.entity.items",
        "event.bind", "event.unbind", "event.get", "batch",
    ]

    /// Runs a method (not `batch`, which ``runBatch(_:arrived:)`` handles).
    func perform(_ call: BitrixCall) throws(BitrixError) -> BitrixOutcome {
        switch call.method {
        case "crm.deal.get": return try getDeal(call)
        case "crm.deal.list": return try listDeals(call)
        case "crm.deal.add": return try addDeal(call)
        case "crm.deal.update": return try updateDeal(call)
        case "crm.deal.delete": return try deleteDeal(call)
        case "crm.deal.fields": return dealFields()
        case "crm.deal.userfield.list": return listUserFields(call)
        case "crm.category.list": return try listCategories(call)
        case "crm.status.list": return try listStatuses(call)
        case "crm.dealcategory.list": return listLegacyCategories(call)
        case "crm.dealcategory.stage.list": return try listLegacyCategoryStages(call)
        case "crm.status.entity.items": return listEntityItems(call)
        case "user.get": return listUsers(call)
        case "user.current": return try currentUser(call)
        case "profile": return try profile(call)
        case "event.bind": return try bindEvent(call)
        case "event.unbind": return try unbindEvent(call)
        case "event.get": return try listEventHandlers(call)
        default: throw .methodNotFound
        }
    }

    /// Fixed pages of 50 the way the portal's older list methods page (`start` rounded down to a page, `next` while
    /// pages remain, `start=-1` without a count).
    static func page<T>(_ items: [T], start: Int) -> (items: [T], total: Int, next: Int?) {
        let size = BitrixDealQuery.pageSize
        guard start >= 0 else { return (Array(items.prefix(size)), 0, nil) }
        let page = start / size
        let offset = page * size
        let rows = offset < items.count ? Array(items[offset..<min(offset + size, items.count)]) : []
        let next = (page + 1) * size < items.count ? (page + 1) * size : nil
        return (rows, items.count, next)
    }

    static func start(_ params: QueryForm.Map) -> Int {
        params["start"]?.string.map(BitrixDealWrite.phpInt) ?? 0
    }
}
