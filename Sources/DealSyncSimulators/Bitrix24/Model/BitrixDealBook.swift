/// Every live deal of the portal and the rules Bitrix24 applies when one is written.
///
/// Pure state: the simulator keeps it behind a `Mutex` and turns the returned changes into events. A deleted deal
/// is gone (Bitrix24's recycle bin is not part of the REST view).
struct BitrixDealBook: Sendable {
    let portal: BitrixPortal
    private(set) var deals: [Int: BitrixDeal] = [:]
    private var nextID: Int

    init(portal: BitrixPortal, firstID: Int) {
        self.portal = portal
        self.nextID = firstID
    }

    /// Deals in id order.
    var all: [BitrixDeal] { deals.values.sorted { $0.id < $1.id } }

    subscript(id: Int) -> BitrixDeal? { deals[id] }

    /// `crm.deal.add`: the funnel from `CATEGORY_ID` (else 0), its first stage unless `STAGE_ID` names one of
    /// its stages, `BEGINDATE` today and `CLOSEDATE` a week ahead unless given, `TITLE` "Сделка #<id>" if empty.
    mutating func add(_ write: BitrixDealWrite, actor: Int, now: Int) -> BitrixDeal {
        let categoryID = write.categoryForNewDeal(portal: portal)
        let first = portal.firstStage(in: categoryID)
        var deal = BitrixDeal(
            id: nextID, categoryID: categoryID, stageID: first?.id ?? "NEW",
            semantic: first?.stage.semantics.letter ?? "P", currency: portal.currency, actor: actor, now: now)
        nextID += 1
        deal.beginDate = portal.day(of: now)
        deal.closeDate = portal.day(of: now + 7 * 86_400)
        write.apply(to: &deal, portal: portal, actor: actor, now: now)
        deal.movedByID = actor
        deal.movedTime = now
        if deal.title.isEmpty { deal.title = "Сделка #\(deal.id)" }
        deals[deal.id] = deal
        return deal
    }

    /// `crm.deal.update`: `nil` when there is no such deal. `DATE_MODIFY` and `MODIFY_BY_ID` change on every
    /// update, even one that changes nothing else.
    mutating func update(_ id: Int, _ write: BitrixDealWrite, actor: Int, now: Int) -> BitrixDeal? {
        guard var deal = deals[id] else { return nil }
        write.apply(to: &deal, portal: portal, actor: actor, now: now)
        deal.modifyByID = actor
        deal.dateModify = now
        deals[id] = deal
        return deal
    }

    mutating func delete(_ id: Int) -> BitrixDeal? {
        deals.removeValue(forKey: id)
    }

    /// A salesperson moves a deal to another funnel: the given stage when it belongs there, else the funnel's first.
    /// `nil` when the deal or the funnel does not exist.
    mutating func move(_ id: Int, toCategory categoryID: Int, stageID: String?, actor: Int, now: Int) -> BitrixDeal? {
        guard var deal = deals[id], portal.category(categoryID) != nil,
            let stage = stageID.flatMap(portal.stage).flatMap({ $0.categoryID == categoryID ? $0 : nil })
                ?? portal.firstStage(in: categoryID)
        else { return nil }
        deal.categoryID = categoryID
        deal.stageID = stage.id
        deal.stageSemanticID = stage.stage.semantics.letter
        deal.movedByID = actor
        deal.movedTime = now
        deal.modifyByID = actor
        deal.dateModify = now
        deals[id] = deal
        return deal
    }

    /// A deal as it was created some time ago (seed data).
    mutating func seed(_ write: BitrixDealWrite, actor: Int, at time: Int) {
        _ = add(write, actor: actor, now: time)
    }
}
