import Synchronization

/// In-process helpers for tests and the demo; each has a `/_sim/` route too.
extension Bitrix24Simulator {
    // MARK: Deals

    public func deal(id: Int) -> BitrixDeal? { book.withLock { $0[id] } }

    /// Every live deal in id order.
    public func allDeals() -> [BitrixDeal] { book.withLock { $0.all } }

    /// A deal as `crm.deal.get` writes it.
    public func dealJSON(id: Int) -> String? { deal(id: id).map { BitrixDealJSON.full($0, portal: portal).text } }

    /// A salesperson creates a deal in the portal's UI (fires `ONCRMDEALADD`). `fields` as for `crm.deal.add`.
    @discardableResult
    public func createAsSalesperson(userID: Int, fields: [String: String]) -> BitrixDeal {
        addDeal(BitrixDealWrite(plain: fields), actor: userID)
    }

    /// A salesperson edits a deal (fires `ONCRMDEALUPDATE`); `automation` plays a robot or business process, whose
    /// events reach applications without an access token. `nil` when there is no such deal.
    @discardableResult
    public func editAsSalesperson(dealID: Int, userID: Int, fields: [String: String], automation: Bool = false) -> BitrixDeal? {
        updateDeal(dealID, BitrixDealWrite(plain: fields), actor: userID, automation: automation)
    }

    /// A salesperson deletes a deal (fires `ONCRMDEALDELETE`); `false` when there is no such deal.
    @discardableResult
    public func deleteAsSalesperson(dealID: Int, userID: Int) -> Bool { deleteDeal(dealID, actor: userID) != nil }

    /// A salesperson moves a deal to another funnel (fires only `ONCRMDEALMOVETOCATEGORY`), into `stageID` when it
    /// belongs to that funnel, else its first stage. `nil` when the deal or the funnel does not exist.
    @discardableResult
    public func moveToCategory(dealID: Int, categoryID: Int, stageID: String? = nil, userID: Int) -> BitrixDeal? {
        moveDeal(dealID, toCategory: categoryID, stageID: stageID, actor: userID)
    }

    // MARK: Events

    /// Stops every event until ``resumeEvents()``: what happens meanwhile is lost (Bitrix24 keeps no backlog).
    public func pauseEvents() { hub.setPaused(true) }
    public func resumeEvents() { hub.setPaused(false) }

    /// Marks a handler as slow (deprioritised: every event to it waits the extra delay) or lifts that.
    public func setHandlerSlow(_ url: String, _ slow: Bool = true) { hub.setSlow(url, slow) }

    /// Every delivery attempt so far, oldest first.
    public var eventHistory: [BitrixEventAttempt] { hub.history }
    public var eventSubscriptions: [BitrixEventSubscription] { hub.subscriptions }
    /// Events queued or being sent.
    public var pendingEvents: Int { sender.pending }

    // MARK: Administration

    /// The application loses its access: every access and refresh token stops working.
    public func revokeOAuth() { oauth.withLock { $0.revoke() } }

    /// The application is installed again as another client: tokens issued before answer 401 `wrong_client`, and
    /// only the new client id and secret may refresh (`POST /_sim/oauth/reinstall {client_id, client_secret}`).
    public func reinstallApplication(clientID: String, clientSecret: String) {
        oauth.withLock { $0.reinstall(clientID: clientID, clientSecret: clientSecret) }
    }

    // MARK: Observation

    public var stats: BitrixStats {
        var stats = requestStats.withLock { $0 }
        let counters = hub.counters
        stats.eventsSent = counters.attempts
        stats.eventsSucceeded = counters.succeeded
        stats.eventsFailed = counters.failed
        stats.eventsLost = counters.lost
        return stats
    }

    /// The leaky bucket's level now.
    public var bucketLevel: Double {
        let limitNow = limitClock.now
        return bucket.withLock { $0.current(at: limitNow) }
    }
}

extension Bitrix24Simulator {
    /// A deal made before dealsync was connected: its fields as for `crm.deal.add`, who made it, and when it last
    /// changed (unix seconds).
    public struct HistoricDeal: Sendable {
        public var fields: [String: String]
        public var userID: Int
        public var modifiedAt: Int

        public init(fields: [String: String], userID: Int, modifiedAt: Int) {
            self.fields = fields
            self.userID = userID
            self.modifiedAt = modifiedAt
        }
    }

    /// Fills the portal with deals from its past, as Bitrix24 holds them: no event is sent (they were sent long
    /// ago, to nobody), and each keeps its own `DATE_MODIFY`. Returns the deals in order.
    @discardableResult
    public func seedHistory(_ history: [HistoricDeal]) -> [BitrixDeal] {
        book.withLock { book in
            history.map { book.add(BitrixDealWrite(plain: $0.fields), actor: $0.userID, now: $0.modifiedAt) }
        }
    }
}
