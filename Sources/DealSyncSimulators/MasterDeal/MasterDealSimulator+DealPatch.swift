extension MasterDealSimulator {
    /// A validated JSON merge-patch (RFC 7396) of a deal's mutable fields.
    ///
    /// An absent member leaves the field alone; `null` clears a nullable field. `attributes` merges per key and
    /// a null value removes that key.
    struct DealPatch: Sendable, Equatable {
        var opportunityName: String?
        var stage: String?
        /// `.some(nil)` clears the amount.
        var amount: String??
        var currency: String??
        var ownerID: String??
        var slaDueAt: String??
        var attributes: [String: JSONValue] = [:]

        init() {}

        /// Validates a merge-patch body: unknown or read-only members are rejected.
        init(json: JSONValue, stages: [String]) throws {
            let members = try DealFields.object(json)
            try DealFields.rejectUnknown(members, allowed: DealFields.mutable)
            opportunityName = try members["opportunity_name"].map { try DealFields.text($0, "opportunity_name") }
            stage = try members["stage"].map { try DealFields.stage($0, stages: stages) }
            amount = try members["amount"].map(DealFields.amount)
            currency = try members["currency"].map(DealFields.currency)
            ownerID = try members["owner_id"].map { try DealFields.optionalText($0, "owner_id") }
            slaDueAt = try members["sla_due_at"].map(DealFields.slaDueAt)
            attributes = try members["attributes"].map(DealFields.attributes) ?? [:]
        }

        /// The deal with the patch applied (version and timestamps untouched).
        ///
        /// A `sla_due_at` naming the same instant keeps the stored text, so re-sending it in another offset
        /// is no change.
        func applied(to deal: Deal) throws -> Deal {
            var result = deal
            if let opportunityName { result.opportunityName = opportunityName }
            if let stage { result.stage = stage }
            if let amount { result.amount = amount }
            if let currency { result.currency = currency }
            if let ownerID { result.ownerID = ownerID }
            if let slaDueAt, !DealFields.sameInstant(slaDueAt, deal.slaDueAt) { result.slaDueAt = slaDueAt }
            for (key, value) in attributes {
                if value.isNull {
                    result.attributes.removeValue(forKey: key)
                } else {
                    result.attributes[key] = value
                }
            }
            try DealFields.checkMoney(amount: result.amount, currency: result.currency)
            return result
        }
    }
}
