import DealSyncCore
import Foundation
import Synchronization

/// In-process helpers for tests and the demo; each has a `/_sim/` route too.
extension AmoCRMSimulator {
    // MARK: Leads

    /// A lead by id, deleted or not.
    public func lead(id: Int) -> AmoLead? { book.withLock { $0.leads[id] } }

    /// Every lead in id order.
    public func allLeads(includingDeleted: Bool = true) -> [AmoLead] {
        book.withLock { $0.all(includingDeleted: includingDeleted) }
    }

    /// A salesperson creates a lead in the amoCRM interface (fires `add` webhooks).
    @discardableResult
    public func createAsSalesperson(userID: Int, _ fields: AmoLeadFields) throws -> AmoLead {
        try createAsSalesperson(userID: userID, json: fields.json(catalog: catalog))
    }

    /// A salesperson edits a lead (fires `update`, and `status`/`responsible` when those change).
    @discardableResult
    public func editAsSalesperson(leadID: Int, userID: Int, _ fields: AmoLeadFields) throws -> AmoLead {
        try editAsSalesperson(leadID: leadID, userID: userID, json: fields.json(catalog: catalog))
    }

    /// A salesperson deletes a lead (fires `delete`); `false` when there is no such live lead.
    @discardableResult
    public func deleteAsSalesperson(leadID: Int, userID: Int) -> Bool {
        let now = self.now
        guard let change = book.withLock({ $0.delete(leadID, actor: userID, now: now) }) else { return false }
        emit([change])
        return true
    }

    /// A salesperson restores a deleted lead (fires `restore`).
    @discardableResult
    public func restoreAsSalesperson(leadID: Int, userID: Int) -> Bool {
        let now = self.now
        guard let change = book.withLock({ $0.restore(leadID, actor: userID, now: now) }) else { return false }
        emit([change])
        return true
    }

    /// The `add` webhook body amoCRM sends for a live lead, without sending it: for load generators that
    /// deliver webhooks themselves (the benchmark).
    public func addWebhookBody(leadID: Int) -> String? {
        guard let lead = book.withLock({ $0.live(leadID) }) else { return nil }
        var random = SplitMix64(seed: UInt64(leadID))
        return AmoWebhookForm.body(for: [.added(lead)], settings: ["add_lead"], catalog: catalog, random: &random)
    }

    /// Sends the Digital Pipeline's short form for a lead, to `destination` or to every enabled hook.
    @discardableResult
    public func sendAutomationWebhook(
        leadID: Int, oldStatusID: Int? = nil, oldPipelineID: Int? = nil,
        destination: String? = nil
    ) -> Bool {
        guard let lead = book.withLock({ $0.live(leadID) }) else { return false }
        for delivery in hub.automation(
            lead: lead, oldStatusID: oldStatusID ?? lead.statusID,
            oldPipelineID: oldPipelineID ?? lead.pipelineID, destination: destination)
        {
            sender.enqueue(delivery)
        }
        return true
    }

    func createAsSalesperson(userID: Int, json: AmoJSON) throws(AmoProblem) -> AmoLead {
        let write = try parseOne(json)
        return try createLeads([write], actor: userID).get()[0]
    }

    func editAsSalesperson(leadID: Int, userID: Int, json: AmoJSON) throws(AmoProblem) -> AmoLead {
        var write = try parseOne(json)
        write.id = leadID
        if write.updatedBy == nil { write.updatedBy = userID }
        return try updateLeads([write], actor: userID).get()[0].lead
    }

    func parseOne(_ json: AmoJSON, requestID: String = "0") throws(AmoProblem) -> AmoLeadWrite {
        let (write, issues) = AmoLeadWrite.parse(json, catalog: catalog)
        guard issues.isEmpty else { throw .validation([.init(requestID: write.requestID ?? requestID, issues: issues)]) }
        return write
    }

    // MARK: Account and integration

    /// Stops every webhook until ``resumeWebhooks()``: what happens meanwhile is lost, as in an amoCRM outage.
    public func pauseWebhooks() { hub.setPaused(true) }
    public func resumeWebhooks() { hub.setPaused(false) }

    /// An administrator re-enables hooks amoCRM disabled after repeated failures.
    public func enableHooks() { hub.enableAll() }

    /// Blocks the account as amoCRM does after repeated limit violations: every API call answers 403.
    public func block() { limiter.withLock { $0.block() } }
    public func unblock() { limiter.withLock { $0.unblock() } }

    /// While expired, writes answer 402.
    public func setSubscriptionExpired(_ expired: Bool) { subscriptionExpired = expired }

    /// The account disables the integration: every token and refresh token stops working.
    public func revokeIntegration() { oauth.withLock { $0.revoke() } }

    /// An administrator installs the integration again: returns an authorization code (20 minutes, single use).
    public func issueAuthorizationCode() -> String {
        let code = "def50200" + AmoTokenMint.base64URL(Data(UUID().uuidString.utf8))
        let now = Double(self.now)
        oauth.withLock { $0.authorize(code: code, now: now) }
        return code
    }

    // MARK: Observation

    public var stats: AmoStats {
        var stats = requestStats.withLock { $0 }
        stats.maxRequestsInOneSecond = limiter.withLock { $0.peak }
        stats.tokenRefreshes = oauth.withLock { $0.refreshCount }
        let counters = hub.counters
        stats.webhookAttempts = counters.attempts
        stats.webhooksSucceeded = counters.succeeded
        stats.webhooksFailed = counters.failed
        stats.webhooksLost = counters.lost
        stats.hooksDisabled = counters.disabledHooks
        return stats
    }

    /// Every webhook attempt so far, oldest first.
    public var webhookHistory: [AmoWebhookAttempt] { hub.history }
    public var webhookSubscriptions: [AmoWebhookSubscription] { hub.subscriptions }
    /// Webhooks queued, in flight or waiting for a retry.
    public var pendingWebhooks: Int { sender.pending }
}

extension AmoCRMSimulator {
    // MARK: History

    /// A lead made before dealsync was connected: its fields, who made it, and when it was created and last changed.
    public struct HistoricLead: Sendable {
        public var fields: AmoLeadFields
        public var userID: Int
        public var createdAt: Int
        public var updatedAt: Int

        public init(fields: AmoLeadFields, userID: Int, createdAt: Int, updatedAt: Int) {
            self.fields = fields
            self.userID = userID
            self.createdAt = createdAt
            self.updatedAt = updatedAt
        }
    }

    /// Fills the account with leads from its past, as amoCRM holds them: no webhook is sent (they were sent long
    /// ago, to nobody), and each lead keeps its own `created_at` and `updated_at`. Returns the leads in order.
    @discardableResult
    public func seedHistory(_ history: [HistoricLead]) throws -> [AmoLead] {
        var leads: [AmoLead] = []
        for past in history {
            var write = try parseOne(past.fields.json(catalog: catalog))
            write.createdAt = past.createdAt
            leads += try storeHistoric(write, actor: past.userID, updatedAt: past.updatedAt).get()
        }
        return leads
    }
}
