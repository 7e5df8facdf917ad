import DealSyncCore

/// Every lead of the account, and the rules amoCRM applies when one is written.
///
/// Pure state: the simulator keeps it behind a `Mutex` and turns the returned changes into webhooks.
/// A batch is validated whole before anything is written, so a 400 leaves every lead untouched. Type and choice
/// errors come first (`validation-errors` by `request_id`); only a batch free of them is checked against amoCRM's
/// rules (`errors` by lead id, such as a loss reason on a lead that is not lost).
struct AmoLeadBook: Sendable {
    let catalog: AmoCatalog
    private(set) var leads: [Int: AmoLead] = [:]
    private var nextID: Int
    private var tagIDs: [String: Int] = [:]
    private var random: SplitMix64

    init(catalog: AmoCatalog, firstID: Int = 24_180_001, seed: UInt64) {
        self.catalog = catalog
        self.nextID = firstID
        self.random = SplitMix64(seed: seed)
    }

    /// Leads in id order, deleted ones included when asked.
    func all(includingDeleted: Bool) -> [AmoLead] {
        leads.values.filter { includingDeleted || !$0.isDeleted }.sorted { $0.id < $1.id }
    }

    func live(_ id: Int) -> AmoLead? { leads[id].flatMap { $0.isDeleted ? nil : $0 } }

    // MARK: Writes

    /// Creates every lead or none; the error lists the issues by `request_id` (sent, else the index).
    mutating func create(_ writes: [AmoLeadWrite], actor: Int, now: Int) -> Result<[AmoLead], AmoProblem> {
        var created: [AmoLead] = []
        var groups: [AmoValidationGroup] = []
        var ids = (nextID, random)
        for (index, write) in writes.enumerated() {
            let id = ids.0
            ids.0 += 1 + Int(ids.1.next() % 4)  // ids grow, but not by one: other accounts share the sequence
            let blank = AmoLead(
                id: id, name: "", price: 0, responsibleUserID: actor, groupID: catalog.user(actor)?.groupID ?? 0,
                statusID: 0, pipelineID: 0, lossReasonID: nil, createdBy: write.createdBy ?? actor, updatedBy: actor,
                createdAt: write.createdAt ?? now, updatedAt: now, closedAt: nil, closestTaskAt: nil, isDeleted: false,
                customFields: [], tags: [], score: nil, laborCost: nil)
            // A new lead has no id to key a rule violation by: it is refused like a wrong value.
            let (lead, issues, broken) = apply(write, to: blank, isNew: true, actor: actor, now: now)
            let all = issues + broken.map { _ in AmoValidationIssue.notSupportedChoice("loss_reason_id") }
            if all.isEmpty { created.append(lead) } else { groups.append(.init(requestID: write.requestID ?? String(index), issues: all)) }
        }
        guard groups.isEmpty else { return .failure(.validation(groups)) }
        (nextID, random) = ids
        for index in created.indices {
            settleTags(&created[index])
            store(created[index])
        }
        return .success(created)
    }

    /// Updates every lead or none.
    mutating func update(_ writes: [AmoLeadWrite], actor: Int, now: Int) -> Result<[AmoLeadChange], AmoProblem> {
        var changes: [AmoLeadChange] = []
        var groups: [AmoValidationGroup] = []
        var violations: [(leadID: Int, message: String)] = []
        var pending: [Int: AmoLead] = [:]
        for (index, write) in writes.enumerated() {
            let requestID = write.requestID ?? String(index)
            guard let id = write.id else {
                groups.append(.init(requestID: requestID, issues: [.missing("id")]))
                continue
            }
            guard let before = pending[id] ?? live(id) else {
                groups.append(.init(requestID: requestID, issues: [.notSupportedChoice("id")]))
                continue
            }
            let (after, issues, broken) = apply(write, to: before, isNew: false, actor: actor, now: now)
            if !issues.isEmpty {
                groups.append(.init(requestID: requestID, issues: issues))
            } else if let message = broken.first {
                violations.append((id, message))
            } else {
                pending[id] = after
                changes.append(.updated(before: before, after: after))
            }
        }
        guard groups.isEmpty else { return .failure(.validation(groups)) }
        guard violations.isEmpty else { return .failure(.invalidRequestBody(violations)) }
        for index in changes.indices {
            guard case .updated(let before, var after) = changes[index] else { continue }
            settleTags(&after)
            changes[index] = .updated(before: before, after: after)
            store(after)
        }
        return .success(changes)
    }

    mutating func delete(_ id: Int, actor: Int, now: Int) -> AmoLeadChange? {
        guard var lead = live(id) else { return nil }
        lead.isDeleted = true
        lead.updatedAt = now
        lead.updatedBy = actor
        store(lead)
        return .deleted(lead)
    }

    mutating func restore(_ id: Int, actor: Int, now: Int) -> AmoLeadChange? {
        guard var lead = leads[id], lead.isDeleted else { return nil }
        lead.isDeleted = false
        lead.updatedAt = now
        lead.updatedBy = actor
        store(lead)
        return .restored(lead)
    }

    private mutating func store(_ lead: AmoLead) {
        leads[lead.id] = lead
        for tag in lead.tags { tagIDs[tag.name] = tag.id }
    }

    // MARK: Rules

    /// The lead after `write`, the write's type and choice errors, and the rules of amoCRM it breaks (as amoCRM words
    /// them).
    private func apply(
        _ write: AmoLeadWrite, to base: AmoLead, isNew: Bool, actor: Int, now: Int
    )
        -> (AmoLead, [AmoValidationIssue], [String])
    {
        var lead = base
        var issues: [AmoValidationIssue] = []
        var broken: [String] = []
        if let name = write.name { lead.name = name }
        if isNew, lead.name.isEmpty { lead.name = "Сделка #\(lead.id)" }
        if let price = write.price { lead.price = price }

        placeInPipeline(&lead, write: write, isNew: isNew, issues: &issues)

        if let responsible = write.responsibleUserID {
            if let user = catalog.user(responsible) {
                lead.responsibleUserID = responsible
                lead.groupID = user.groupID
            } else {
                issues.append(.notSupportedChoice("responsible_user_id"))
            }
        }
        for (key, value) in [("created_by", write.createdBy), ("updated_by", write.updatedBy)] {
            if let value, value != 0, catalog.user(value) == nil { issues.append(.notSupportedChoice(key)) }
        }

        let closed = [AmoCRMSimulator.Status.won, AmoCRMSimulator.Status.lost]
        switch write.lossReasonID {
        case .some(.some(let reason)):
            if catalog.lossReason(reason) == nil {
                issues.append(.notSupportedChoice("loss_reason_id"))
            } else if lead.statusID != AmoCRMSimulator.Status.lost {
                broken.append(Self.lossReasonOnlyWhenLost)
            } else {
                lead.lossReasonID = reason
            }
        case .some(.none): lead.lossReasonID = nil
        case .none: break
        }
        if lead.statusID != AmoCRMSimulator.Status.lost { lead.lossReasonID = nil }
        if let closedAt = write.closedAt {
            lead.closedAt = closedAt
        } else if closed.contains(lead.statusID), isNew || !closed.contains(base.statusID) {
            lead.closedAt = now
        } else if !closed.contains(lead.statusID) {
            lead.closedAt = nil
        }

        for (_, fieldID, change) in write.customFields {
            let existing = lead.customFields.firstIndex { $0.fieldID == fieldID }
            switch (change, existing) {
            case (.set(let items), let index?): lead.customFields[index].values = items
            case (.set(let items), nil): lead.customFields.append(AmoFieldValue(fieldID: fieldID, values: items))
            case (.clear, let index?): lead.customFields.remove(at: index)
            case (.clear, nil): break
            }
        }
        if write.tags != nil || !write.tagsToAdd.isEmpty || !write.tagsToDelete.isEmpty {
            lead.tags = tags(after: write, on: lead)
        }
        lead.updatedBy = write.updatedBy ?? actor
        lead.updatedAt = write.updatedAt ?? now
        return (lead, issues, broken)
    }

    /// The lead's tags after `_embedded.tags` (replacing), then `tags_to_add`, then `tags_to_delete`. A tag the account
    /// has not seen has id 0 until ``settleTags(_:)`` gives it one, when the write is stored.
    private func tags(after write: AmoLeadWrite, on lead: AmoLead) -> [AmoTag] {
        func name(_ reference: AmoLeadWrite.TagReference) -> String? {
            switch reference {
            case .name(let name): name
            case .id(let id): tagIDs.first { $0.value == id }?.key
            }
        }
        var names = write.tags ?? lead.tags.map(\.name)
        for added in write.tagsToAdd.compactMap(name) where !names.contains(added) { names.append(added) }
        let deleted = Set(write.tagsToDelete.compactMap(name))
        names.removeAll { deleted.contains($0) }
        return names.map { name in AmoTag(id: tagIDs[name] ?? 0, name: name) }
    }

    /// Gives the lead's new tags their ids: the account's id for a name it knows, else the next free one.
    private mutating func settleTags(_ lead: inout AmoLead) {
        for index in lead.tags.indices where lead.tags[index].id == 0 {
            let name = lead.tags[index].name
            let id = tagIDs[name] ?? (tagIDs.values.max() ?? 480_000) + 1
            tagIDs[name] = id
            lead.tags[index].id = id
        }
    }

    /// amoCRM's words for a loss reason on a lead that is not lost (amocrm-api-php issue 88).
    static let lossReasonOnlyWhenLost = "Loss reason can be specified only for lost lead"

    /// Pipeline and status: a status must exist in the lead's (new) pipeline; 142 and 143 exist in all.
    private func placeInPipeline(_ lead: inout AmoLead, write: AmoLeadWrite, isNew: Bool, issues: inout [AmoValidationIssue]) {
        var pipelineID = isNew ? (catalog.mainPipeline?.id ?? 0) : lead.pipelineID
        if let requested = write.pipelineID {
            guard catalog.pipeline(requested) != nil else {
                issues.append(.notSupportedChoice("pipeline_id"))
                return
            }
            pipelineID = requested
        } else if isNew, let status = write.statusID, let pipeline = catalog.pipelineContaining(status: status) {
            pipelineID = pipeline.id
        }
        if let status = write.statusID {
            guard catalog.status(status, in: pipelineID) != nil else {
                issues.append(.notSupportedChoice("status_id"))
                return
            }
            lead.statusID = status
        } else if isNew || pipelineID != lead.pipelineID, let pipeline = catalog.pipeline(pipelineID) {
            lead.statusID = catalog.firstStatus(of: pipeline)
        }
        lead.pipelineID = pipelineID
    }
}
