import DealSyncCore
import DealSyncSimulators
import DealSyncStore
import Foundation

/// The story the demo tells, chapter by chapter, checking each claim as it goes.
struct DemoScenario: Sendable {
    let system: DemoSystem
    let timeline: Timeline
    let replay: DeadLetterReplay
    let gatewayURL: String

    var masterDeal: MasterDealSimulator { system.masterDeal }
    var amo: AmoCRMSimulator { system.amo }

    static let olga = 6_001_001, ivan = 6_001_002, anna = 6_001_003
    static let pipeline = 7_001_000

    /// Plays every chapter; returns the deal the story followed from the start.
    @discardableResult
    func play() async throws -> String {
        let dealID = try await dealCreatedInMasterDeal()
        try await stageMovedInAmoCRM(dealID)
        let second = try await leadCreatedInAmoCRM()
        try await simultaneousEdits(dealID)
        try await outageAndReplay(dealID)
        let fitness = try await fitnessFunnel()
        try await nothingDuplicated(expected: [dealID, second], fitness: fitness)
        return dealID
    }

    // MARK: 1

    func dealCreatedInMasterDeal() async throws -> String {
        timeline.chapter("1. A deal created in MasterDeal appears in amoCRM")
        let deal = try masterDeal.createAsUser(
            .object([
                "account_id": .string("acc-tour"), "opportunity_name": .string("Сочи, 7 ночей"), "stage": .string("lead"),
                "amount": .string("150000.50"), "currency": .string("RUB"), "owner_id": .string("u-olga"),
                "sla_due_at": .string("2026-12-20T18:00:00+03:00"), "attributes": .object(["tour_type": .string("beach")]),
            ]))
        timeline.event("masterdeal", "deal \(deal.id) created: «Сочи, 7 ночей», 150 000.50 RUB, stage lead, owner u-olga")
        try await DemoWaiting.until("the lead appears in amoCRM", timeout: .seconds(20)) { system.lead(for: deal.id) != nil }
        let lead = system.lead(for: deal.id)!
        timeline.event(
            "amocrm",
            "lead \(lead.id) created: «\(lead.name)», price \(lead.price), stage «\(system.stageName(lead.statusID))», "
                + "responsible \(system.ownerName(lead.responsibleUserID)), master_deal_id \(deal.id)")
        timeline.check("the lead carries master_deal_id \(deal.id)", lead.values(ofField: 900_001) == [deal.id])
        timeline.check("150000.50 RUB became amoCRM's integer price 150001", lead.price == 150_001)
        timeline.check(
            "stage lead became «Новый лид», owner u-olga became Ольга", lead.statusID == 7_001_001 && lead.responsibleUserID == Self.olga)
        return deal.id
    }

    // MARK: 2

    func stageMovedInAmoCRM(_ dealID: String) async throws {
        timeline.chapter("2. A salesperson moves the lead in amoCRM; MasterDeal follows (webhook)")
        let lead = system.lead(for: dealID)!
        // Ivan acts a moment later, as people do: amoCRM stamps changes in whole seconds, and a move within the
        // second of dealsync's own write cannot be told from a concurrent one (the stage is MasterDeal's by priority).
        amo.advanceClock(bySeconds: 1)
        _ = try amo.editAsSalesperson(leadID: lead.id, userID: Self.ivan, AmoLeadFields(statusID: 7_001_004, pipelineID: Self.pipeline))
        timeline.event("amocrm", "Иван moves lead \(lead.id) to «Предложение»; amoCRM sends a form-encoded webhook")
        try await DemoWaiting.until("MasterDeal reaches proposal", timeout: .seconds(20)) {
            masterDeal.deal(id: dealID)?.stage == "proposal"
        }
        let deal = masterDeal.deal(id: dealID)!
        timeline.event("masterdeal", "deal \(dealID) stage → proposal (version \(deal.version))")
        timeline.check("the stage change reached MasterDeal", deal.stage == "proposal")
    }

    // MARK: 3

    func leadCreatedInAmoCRM() async throws -> String {
        timeline.chapter("3. A lead created in amoCRM appears in MasterDeal")
        let lead = try amo.createAsSalesperson(
            userID: Self.anna,
            AmoLeadFields(
                name: "Домбай, горнолыжный тур", price: 98_000, statusID: 7_001_002, pipelineID: Self.pipeline,
                responsibleUserID: Self.anna, customFields: [900_004: ["ski"]]))
        timeline.event("amocrm", "Анна creates lead \(lead.id): «Домбай, горнолыжный тур», 98 000, «Квалификация», tour type ski")
        try await DemoWaiting.until("the deal appears in MasterDeal", timeout: .seconds(20)) {
            masterDeal.allDeals().contains { $0.opportunityName == "Домбай, горнолыжный тур" }
        }
        let deal = masterDeal.allDeals().first { $0.opportunityName == "Домбай, горнолыжный тур" }!
        timeline.event(
            "masterdeal",
            "deal \(deal.id) created in account \(deal.accountID): stage \(deal.stage), \(deal.amount ?? "-") \(deal.currency ?? ""), owner \(deal.ownerID ?? "-")"
        )
        try await DemoWaiting.until("amoCRM learns the master_deal_id", timeout: .seconds(20)) {
            amo.lead(id: lead.id)?.values(ofField: 900_001) == [deal.id]
        }
        timeline.event("amocrm", "lead \(lead.id) now carries master_deal_id \(deal.id)")
        timeline.check(
            "the new deal is in account acc-tour, stage qualified, 98000.00 RUB, owner u-anna",
            deal.accountID == "acc-tour" && deal.stage == "qualified" && deal.amount == "98000.00" && deal.ownerID == "u-anna")
        timeline.check("tour type ski arrived as an attribute", deal.attributes["tour_type"]?.stringValue == "ski")
        return deal.id
    }

    // MARK: 4

    func simultaneousEdits(_ dealID: String) async throws {
        timeline.chapter("4. Both sides edit the same deal at the same moment")
        let lead = system.lead(for: dealID)!
        _ = try masterDeal.editAsUser(
            id: dealID, changes: .object(["stage": .string("won"), "opportunity_name": .string("Сочи, 7 ночей — VIP")]))
        _ = try amo.editAsSalesperson(
            leadID: lead.id, userID: Self.ivan,
            AmoLeadFields(name: "Сочи, 10 ночей", statusID: 7_001_007, pipelineID: Self.pipeline))
        timeline.event("masterdeal", "someone moves the deal to won and renames it «Сочи, 7 ночей — VIP»")
        timeline.event("amocrm", "at the same moment Иван renames the lead «Сочи, 10 ночей» and moves it to «Сервис»")
        try await DemoWaiting.until("both sides agree", timeout: .seconds(20)) {
            guard let deal = masterDeal.deal(id: dealID), let lead = amo.lead(id: lead.id) else { return false }
            let open = try await system.openWrites()
            return deal.opportunityName == lead.name && lead.statusID == 7_001_006 && deal.stage == "won" && open == 0
        }
        let deal = masterDeal.deal(id: dealID)!
        let after = amo.lead(id: lead.id)!
        timeline.event(
            "dealsync", "settled: stage won / «\(system.stageName(after.statusID))», title «\(deal.opportunityName)» on both sides")
        let conflicts = try await system.divergence(kinds: ["conflict"]).filter { $0.masterDealID == dealID }
        for conflict in conflicts {
            timeline.event(
                "divergence",
                "conflict \(conflict.field ?? "-"): MasterDeal \(conflict.masterValue?.description ?? "-") "
                    + "vs amoCRM \(conflict.crmValue?.description ?? "-") → \(conflict.rule ?? "-") keeps the \(conflict.winner ?? "-") value"
            )
        }
        let stage = conflicts.first { $0.field == "stage" }
        timeline.check(
            "stage: priority master kept won and amoCRM moved to «Продажа»",
            stage?.winner == "master" && after.statusID == 7_001_006 && deal.stage == "won")
        let title = conflicts.first { $0.field == "title" }
        let expected = Self.lwwWinner(title)
        timeline.check(
            "title: last-write-wins kept the later source timestamp (\(expected ?? "?"))",
            title?.rule == "lww" && title?.winner == expected && deal.opportunityName == after.name)
    }

    /// The side last-write-wins must pick for a logged conflict: the later source timestamp, MasterDeal on a tie.
    static func lwwWinner(_ entry: DivergenceRecord?) -> String? {
        guard let entry, let master = entry.masterAt, let crm = entry.crmAt else { return nil }
        return crm > master ? "crm" : "master"
    }

    // MARK: 5

    func outageAndReplay(_ dealID: String) async throws {
        timeline.chapter("5. amoCRM goes down: writes retry, one ends in the dead-letter queue, support replays it")
        var down = FaultSettings()
        down.down = true
        amo.faults.update(down)
        timeline.event("amocrm", "DOWN — every API call now fails")
        _ = try masterDeal.editAsUser(id: dealID, changes: .object(["amount": .string("175000.00"), "currency": .string("RUB")]))
        timeline.event("masterdeal", "the deal's amount changes to 175 000.00 RUB (no event for amounts: dealsync's poller finds it)")
        var seen = 0
        try await DemoWaiting.until("the write is dead-lettered", timeout: .seconds(40)) {
            let attempts = try await processorAttempts(dealID)
            for attempt in attempts.dropFirst(seen) {
                timeline.event(
                    "relay",
                    "write to amoCRM failed: \(attempt.status.map { "HTTP \($0)" } ?? "no response") \(attempt.errorClass) — retrying with backoff"
                )
            }
            seen = max(seen, attempts.count)
            let letters = try await system.deadLetters()
            return !letters.isEmpty
        }
        let letter = try await system.deadLetters().first!
        timeline.event(
            "dealsync", "dead letter \(letter.id): \(letter.errorClass) after \(letter.attempts.count) attempts (dealsync dlq list)")
        timeline.check("the write ended in the dead-letter queue with its attempt history", letter.attempts.count == 4)
        amo.faults.update(FaultSettings())
        timeline.event("amocrm", "back up")
        let result = try await replay.replay(letter.id, actor: "demo", dryRun: false)
        let said: String =
            switch result {
            case .requeued(let outbox): "re-enqueued as outbox \(outbox) under its original idempotency key"
            case .requeuedCurrent(let outbox, let changed):
                "enqueued outbox \(outbox.map(String.init) ?? "?") with current values for \(changed.joined(separator: ", "))"
            case .alreadyInSync: "nothing to send: amoCRM already holds the decided values"
            case .refused(let reason): "refused: \(reason)"
            }
        timeline.event("support", "dealsync dlq replay \(letter.id) → \(said)")
        try await DemoWaiting.until("amoCRM has the new price", timeout: .seconds(20)) { system.lead(for: dealID)?.price == 175_000 }
        timeline.event("amocrm", "lead price is now 175000")
        timeline.check("the replay delivered the write", system.lead(for: dealID)?.price == 175_000)
        let audit = try await AuditStore(database: system.database, logger: system.logger).list()
        timeline.check("the replay is in the audit log", audit.contains { $0.action == "dlq.replay" && $0.actor == "demo" })
    }

    func processorAttempts(_ dealID: String) async throws -> [AttemptRecord] {
        let letters = try await system.deadLetters(status: nil)
        if let letter = letters.first { return letter.attempts }
        return try await OutboxInspection(database: system.database).attempts(target: "tour-amocrm")
    }

    // MARK: 7

    func fitnessFunnel() async throws -> String {
        timeline.chapter("6. The fitness coach's Bitrix24 funnel")
        let bitrix = system.bitrix
        let deal = try masterDeal.createAsUser(
            .object([
                "account_id": .string("acc-fitness"), "opportunity_name": .string("Персональные тренировки, 12 занятий"),
                "stage": .string("lead"), "amount": .string("24000.00"), "currency": .string("RUB"), "owner_id": .string("u-maria"),
                "attributes": .object(["program": .string("personal"), "sessions": .number(12)]),
            ]))
        timeline.event("masterdeal", "deal \(deal.id) created in account acc-fitness: 24 000.00 RUB, owner u-maria")
        try await DemoWaiting.until("the deal appears in Bitrix24", timeout: .seconds(20)) {
            bitrix.allDeals().contains { $0.originID == deal.id }
        }
        let created = bitrix.allDeals().first { $0.originID == deal.id }!
        timeline.event(
            "bitrix24",
            "deal \(created.id) «\(created.title)» in «Первичный контакт» (\(created.stageID)), OPPORTUNITY \(created.opportunity) \(created.currencyID), "
                + "ORIGINATOR_ID \(created.originatorID ?? "-"), ORIGIN_ID \(created.originID ?? "-")")
        timeline.check(
            "the Bitrix24 deal is marked as dealsync's and carries the master_deal_id",
            created.originatorID == "dealsync" && created.originID == deal.id && created.stageID == "C2:NEW")
        _ = bitrix.editAsSalesperson(dealID: created.id, userID: 15, fields: ["STAGE_ID": "C2:PREPAYMENT_INVOICE"])
        timeline.event("bitrix24", "a coach moves it to «Принимают решение»; Bitrix24 sends only the id (ONCRMDEALUPDATE)")
        try await DemoWaiting.until("MasterDeal reaches proposal", timeout: .seconds(20)) {
            masterDeal.deal(id: deal.id)?.stage == "proposal"
        }
        timeline.event("masterdeal", "deal \(deal.id) stage → proposal (dealsync read the deal with crm.deal.get first)")
        timeline.check("the coach's stage change reached MasterDeal", masterDeal.deal(id: deal.id)?.stage == "proposal")
        timeline.check("Bitrix24 never refused a call (leaky bucket respected)", bitrix.stats.queryLimitExceeded == 0)
        return deal.id
    }

    // MARK: 6

    func nothingDuplicated(expected: [String], fitness: String) async throws {
        timeline.chapter("7. Nothing is duplicated")
        try await DemoWaiting.until("every write is delivered", timeout: .seconds(20)) { try await system.openWrites() == 0 }
        let leads = amo.allLeads(includingDeleted: true)
        let deals = masterDeal.allDeals().filter { $0.accountID == "acc-tour" }
        timeline.event("dealsync", "\(deals.count) deals in MasterDeal, \(leads.count) leads in amoCRM")
        timeline.check("one lead per deal and one deal per lead", leads.count == expected.count && deals.count == expected.count)
        let linked = Set(leads.compactMap { $0.values(ofField: 900_001)?.first })
        timeline.check("every lead carries its own deal's master_deal_id", linked == Set(expected))
        let bitrixDeals = system.bitrix.allDeals()
        timeline.check("one Bitrix24 deal for the fitness deal", bitrixDeals.count == 1 && bitrixDeals.first?.originID == fitness)
        let open = try await system.deadLetters()
        timeline.check("no dead letters left open", open.isEmpty)
    }
}
