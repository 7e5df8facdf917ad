import Synchronization

/// Deal writes, from the API and from the salesperson alike, and the events they fire.
extension Bitrix24Simulator {
    func addDeal(_ write: BitrixDealWrite, actor: Int, automation: Bool = false) -> BitrixDeal {
        let now = self.now
        let deal = book.withLock { $0.add(write, actor: actor, now: now) }
        emit(BitrixDealChange(kind: .added, deal: deal, actor: actor, byAutomation: automation))
        return deal
    }

    /// `nil` when there is no such deal. Fires `ONCRMDEALUPDATE` even when nothing changed.
    func updateDeal(_ id: Int, _ write: BitrixDealWrite, actor: Int, automation: Bool = false) -> BitrixDeal? {
        let now = self.now
        guard let deal = book.withLock({ $0.update(id, write, actor: actor, now: now) }) else { return nil }
        emit(BitrixDealChange(kind: .updated, deal: deal, actor: actor, byAutomation: automation))
        return deal
    }

    func deleteDeal(_ id: Int, actor: Int) -> BitrixDeal? {
        guard let deal = book.withLock({ $0.delete(id) }) else { return nil }
        emit(BitrixDealChange(kind: .deleted, deal: deal, actor: actor, byAutomation: false))
        return deal
    }

    /// A move to another funnel fires only `ONCRMDEALMOVETOCATEGORY`; within the same funnel it is a stage change
    /// (`ONCRMDEALUPDATE`). `nil` when the deal or the funnel does not exist.
    func moveDeal(_ id: Int, toCategory categoryID: Int, stageID: String?, actor: Int) -> BitrixDeal? {
        guard let current = book.withLock({ $0[id] }), portal.category(categoryID) != nil else { return nil }
        if current.categoryID == categoryID {
            return updateDeal(id, BitrixDealWrite(plain: stageID.map { ["STAGE_ID": $0] } ?? [:]), actor: actor)
        }
        let now = self.now
        guard let deal = book.withLock({ $0.move(id, toCategory: categoryID, stageID: stageID, actor: actor, now: now) })
        else { return nil }
        emit(BitrixDealChange(kind: .movedToCategory, deal: deal, actor: actor, byAutomation: false))
        return deal
    }

    /// Queues the change's event for every handler bound to it. Application handlers get a fresh access token, unless
    /// automation made the change.
    func emit(_ change: BitrixDealChange) {
        let ts = now
        let identity = BitrixEventForm.Portal(
            domain: configuration.domain, clientEndpoint: configuration.resolvedClientEndpoint,
            memberID: configuration.memberID, applicationToken: configuration.applicationToken)
        let deliveries = hub.deliveries(for: change) { subscription in
            guard subscription.kind == .application else {
                return BitrixEventForm.body(for: change, to: .outgoingWebhook, portal: identity, ts: ts)
            }
            var tokens: BitrixEventForm.AppTokens?
            if !change.byAutomation {
                let issued = oauth.withLock { $0.issueAccess(now: ts) }
                tokens = BitrixEventForm.AppTokens(
                    accessToken: issued.accessToken, expiresAt: issued.expiresAt, expiresIn: issued.expiresIn,
                    scope: configuration.oauth.scope, userID: subscription.authUserID == 0 ? change.actor : subscription.authUserID)
            }
            return BitrixEventForm.body(for: change, to: .application(handlerID: subscription.id, tokens: tokens), portal: identity, ts: ts)
        }
        for delivery in deliveries { sender.enqueue(delivery) }
    }
}
