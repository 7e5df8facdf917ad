import Foundation

/// The `fields` of `crm.deal.add` / `crm.deal.update`, applied the way Bitrix24 applies them: unknown and
/// read-only fields are silently dropped, unknown `STAGE_ID` values and stages of another funnel are ignored,
/// `CATEGORY_ID` counts only on add, numbers are read like PHP's `floatval`, an empty value clears a field.
struct BitrixDealWrite: Sendable {
    let fields: QueryForm.Map

    init(_ fields: QueryForm.Map) { self.fields = fields }

    /// Builds a write from plain field values (seed deals, in-process helpers).
    init(plain: [String: String]) {
        self.init(QueryForm.Map(pairs: plain.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))
    }

    /// The funnel a new deal goes to: a known `CATEGORY_ID`, else the default funnel 0.
    func categoryForNewDeal(portal: BitrixPortal) -> Int {
        guard let raw = fields["CATEGORY_ID"]?.string, let id = Int(raw.trimmingCharacters(in: .whitespaces)),
            portal.category(id) != nil
        else { return 0 }
        return id
    }

    /// Applies every writable field to `deal`. `STAGE_ID` moves the deal only within its own funnel.
    func apply(to deal: inout BitrixDeal, portal: BitrixPortal, actor: Int, now: Int) {
        for (name, value) in fields.entries {
            if name.hasPrefix("UF_") {
                if let field = portal.userField(name) { Self.applyUserField(field, value: value, to: &deal) }
                continue
            }
            guard let text = value.string else { continue }  // an array for a scalar field is ignored
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            let nonEmpty: String? = text.isEmpty ? nil : text
            switch name {
            case "TITLE": deal.title = text
            case "TYPE_ID": deal.typeID = nonEmpty
            case "STAGE_ID":
                guard let stage = portal.stage(trimmed), stage.categoryID == deal.categoryID else { continue }
                if stage.id != deal.stageID {
                    deal.movedByID = actor
                    deal.movedTime = now
                }
                deal.stageID = stage.id
                deal.stageSemanticID = stage.stage.semantics.letter
            case "PROBABILITY": deal.probability = trimmed.isEmpty ? nil : Self.phpInt(trimmed)
            case "CURRENCY_ID": if portal.currencies.contains(trimmed.uppercased()) { deal.currencyID = trimmed.uppercased() }
            case "OPPORTUNITY":
                deal.opportunity = DecimalString.rounded(BitrixSortKey.phpNumber(text), scale: 2)
                deal.isManualOpportunity = true
            case "IS_MANUAL_OPPORTUNITY": deal.isManualOpportunity = trimmed == "Y"
            case "COMPANY_ID": deal.companyID = Self.positive(trimmed)
            case "CONTACT_ID": deal.contactID = Self.positive(trimmed)
            case "BEGINDATE", "CLOSEDATE":
                let day: String?
                if trimmed.isEmpty {
                    day = nil
                } else if let parsed = portal.parseDay(trimmed) {
                    day = parsed
                } else {
                    continue
                }
                if name == "BEGINDATE" { deal.beginDate = day } else { deal.closeDate = day }
            case "OPENED": if trimmed == "Y" || trimmed == "N" { deal.opened = trimmed == "Y" }
            case "COMMENTS": deal.comments = nonEmpty
            case "ASSIGNED_BY_ID": if let id = Self.positive(trimmed) { deal.assignedByID = id }
            case "SOURCE_ID": deal.sourceID = nonEmpty
            case "SOURCE_DESCRIPTION": deal.sourceDescription = nonEmpty
            case "ORIGINATOR_ID": deal.originatorID = nonEmpty
            case "ORIGIN_ID": deal.originID = nonEmpty
            default: continue  // unknown, read-only (ID, DATE_MODIFY, CLOSED...) and CATEGORY_ID
            }
        }
    }

    private static func applyUserField(_ field: BitrixPortal.UserField, value: QueryForm.Value, to deal: inout BitrixDeal) {
        var raws: [String]
        switch value {
        case .string(let text): raws = [text]
        case .map(let map): raws = map.entries.compactMap { $0.value.string }
        }
        if !field.multiple { raws = Array(raws.prefix(1)) }
        var stored: [String] = []
        for raw in raws {
            let text = raw.trimmingCharacters(in: .whitespaces)
            guard !text.isEmpty else { continue }
            switch field.kind {
            case .string: stored.append(raw)
            case .double: stored.append(DecimalString.format(BitrixSortKey.phpNumber(text)))
            case .integer: stored.append(String(phpInt(text)))
            case .boolean: stored.append(["1", "Y", "y", "true", "TRUE"].contains(text) ? "1" : "0")
            case .enumeration:
                guard let id = Int(text), field.items.contains(where: { $0.id == id }) else { return }  // not a choice
                stored.append(String(id))
            }
        }
        deal.userFields[field.name] = stored.isEmpty ? nil : stored
    }

    /// PHP's `intval`.
    static func phpInt(_ text: String) -> Int {
        NSDecimalNumber(decimal: BitrixSortKey.phpNumber(text)).intValue
    }

    private static func positive(_ text: String) -> Int? {
        let value = phpInt(text)
        return value > 0 ? value : nil
    }
}
