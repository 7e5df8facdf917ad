extension MasterDealSimulator {
    /// A validated `POST /v1/deals` body.
    struct DealDraft: Sendable, Equatable {
        var accountID: String
        var opportunityName: String
        var stage: String
        var amount: String?
        var currency: String?
        var ownerID: String?
        var slaDueAt: String?
        var attributes: [String: JSONValue]

        /// Validates a create body; `stages` nil accepts any stage name (seeds).
        init(json: JSONValue, stages: [String]?, extraAllowed: Set<String> = []) throws {
            let members = try DealFields.object(json)
            try DealFields.rejectUnknown(members, allowed: DealFields.creatable.union(extraAllowed))
            accountID = try DealFields.requiredText(members, "account_id")
            opportunityName = try DealFields.requiredText(members, "opportunity_name")
            guard let stage = members["stage"] else { throw Problem.validation("stage is required.", pointer: "/stage") }
            self.stage = try DealFields.stage(stage, stages: stages)
            amount = try members["amount"].map(DealFields.amount) ?? nil
            currency = try members["currency"].map(DealFields.currency) ?? nil
            ownerID = try members["owner_id"].map { try DealFields.optionalText($0, "owner_id") } ?? nil
            slaDueAt = try members["sla_due_at"].map(DealFields.slaDueAt) ?? nil
            // On create a null attribute is simply absent.
            attributes = try members["attributes"].map(DealFields.attributes)?.filter { !$0.value.isNull } ?? [:]
            try DealFields.checkMoney(amount: amount, currency: currency)
        }

        /// The new deal at version 1.
        func makeDeal(id: String, now: Int64) -> Deal {
            Deal(
                id: id, accountID: accountID, opportunityName: opportunityName, stage: stage, amount: amount,
                currency: currency, ownerID: ownerID, slaDueAt: slaDueAt, createdAt: now, updatedAt: now,
                version: 1, attributes: attributes)
        }
    }
}
