/// The older catalogue methods client libraries still call: `crm.dealcategory.list`, `crm.dealcategory.stage.list`
/// and `crm.status.entity.items`, answering what `crm.category.list` and `crm.status.list` hold in their own shapes.
extension Bitrix24Simulator {
    /// `crm.dealcategory.list`: the funnels other than the default one, as strings (`ID`, `NAME`, `SORT`,
    /// `IS_LOCKED`, `CREATED_DATE`), ordered by `SORT`; `total` counts them.
    func listLegacyCategories(_ call: BitrixCall) -> BitrixOutcome {
        let categories = portal.categories.filter { $0.id != 0 }.sorted { ($0.sort, $0.id) < ($1.sort, $1.id) }.map { category in
            BitrixJSON.object([
                ("ID", .string(String(category.id))), ("CREATED_DATE", .string("2024-01-15T10:00:00+03:00")),
                ("NAME", .string(category.name)),
                ("IS_LOCKED", .string("N")), ("SORT", .string(String(category.sort))),
            ])
        }
        let page = Self.page(categories, start: Self.start(call.params))
        return BitrixOutcome(.array(page.items), total: page.total, next: page.next, rows: page.items.count)
    }

    /// `crm.dealcategory.stage.list {id}`: a funnel's stages (`NAME`, `SORT`, `STATUS_ID`); `id` 0 or absent is the
    /// default funnel; a funnel that does not exist is the CRM's 400 "Not found".
    func listLegacyCategoryStages(_ call: BitrixCall) throws(BitrixError) -> BitrixOutcome {
        let id = call.params.text("id", "ID").map(BitrixDealWrite.phpInt) ?? 0
        guard portal.categories.contains(where: { $0.id == id }) else { throw .notFound }
        let stages = portal.stages(in: id).map(Self.entityItem)
        return BitrixOutcome(.array(stages), total: stages.count, rows: stages.count)
    }

    /// `crm.status.entity.items {entityId}`: the items of one status entity (`DEAL_STAGE`, `DEAL_STAGE_<n>`) as
    /// `NAME`, `SORT`, `STATUS_ID`; an entity the portal does not have lists nothing.
    func listEntityItems(_ call: BitrixCall) -> BitrixOutcome {
        let entity = (call.params.text("entityId", "ENTITY_ID", "entityID") ?? "").uppercased()
        let category = portal.categories.first { $0.statusEntityID == entity }
        let items = category.map { portal.stages(in: $0.id).map(Self.entityItem) } ?? []
        return BitrixOutcome(.array(items), total: items.count, rows: items.count)
    }

    private static func entityItem(_ ref: BitrixPortal.StageRef) -> BitrixJSON {
        .object([("NAME", .string(ref.stage.name)), ("SORT", .string(String(ref.stage.sort))), ("STATUS_ID", .string(ref.id))])
    }
}
