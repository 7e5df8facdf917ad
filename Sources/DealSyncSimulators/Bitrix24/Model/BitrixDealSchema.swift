import Foundation

/// The standard deal fields in Bitrix24's order, with their types (`crm.deal.fields`) and wire values.
///
/// Every value is a string or null on the wire; `select`, `order` and `filter` all go through here.
enum BitrixDealSchema {
    struct Field: Sendable {
        var name: String
        var type: String
        var title: String
        var readOnly = false
        var immutable = false
        var required = false
        var statusType: String?
    }

    static let fields: [Field] = [
        Field(name: "ID", type: "integer", title: "ID", readOnly: true),
        Field(name: "TITLE", type: "string", title: "Название"),
        Field(name: "TYPE_ID", type: "crm_status", title: "Тип", statusType: "DEAL_TYPE"),
        Field(name: "CATEGORY_ID", type: "crm_category", title: "Воронка", immutable: true),
        Field(name: "STAGE_ID", type: "crm_status", title: "Стадия сделки", statusType: "DEAL_STAGE"),
        Field(name: "STAGE_SEMANTIC_ID", type: "string", title: "Группа стадии", readOnly: true),
        Field(name: "IS_NEW", type: "char", title: "Новая сделка", readOnly: true),
        Field(name: "IS_RECURRING", type: "char", title: "Регулярная сделка"),
        Field(name: "IS_RETURN_CUSTOMER", type: "char", title: "Повторная сделка", readOnly: true),
        Field(name: "IS_REPEATED_APPROACH", type: "char", title: "Повторное обращение", readOnly: true),
        Field(name: "PROBABILITY", type: "integer", title: "Вероятность"),
        Field(name: "CURRENCY_ID", type: "crm_currency", title: "Валюта"),
        Field(name: "OPPORTUNITY", type: "double", title: "Сумма"),
        Field(name: "IS_MANUAL_OPPORTUNITY", type: "char", title: "Сумма заполнена вручную"),
        Field(name: "TAX_VALUE", type: "double", title: "Ставка налога"),
        Field(name: "COMPANY_ID", type: "crm_company", title: "Компания"),
        Field(name: "CONTACT_ID", type: "crm_contact", title: "Контакт"),
        Field(name: "QUOTE_ID", type: "crm_quote", title: "Предложение", readOnly: true),
        Field(name: "BEGINDATE", type: "date", title: "Дата начала"),
        Field(name: "CLOSEDATE", type: "date", title: "Предполагаемая дата закрытия"),
        Field(name: "OPENED", type: "char", title: "Доступна для всех"),
        Field(name: "CLOSED", type: "char", title: "Сделка закрыта"),
        Field(name: "COMMENTS", type: "string", title: "Комментарий"),
        Field(name: "ASSIGNED_BY_ID", type: "user", title: "Ответственный"),
        Field(name: "CREATED_BY_ID", type: "user", title: "Кем создана", readOnly: true),
        Field(name: "MODIFY_BY_ID", type: "user", title: "Кем изменена", readOnly: true),
        Field(name: "MOVED_BY_ID", type: "user", title: "Кем перемещена", readOnly: true),
        Field(name: "DATE_CREATE", type: "datetime", title: "Дата создания", readOnly: true),
        Field(name: "DATE_MODIFY", type: "datetime", title: "Дата изменения", readOnly: true),
        Field(name: "MOVED_TIME", type: "datetime", title: "Дата перемещения", readOnly: true),
        Field(name: "SOURCE_ID", type: "crm_status", title: "Источник", statusType: "SOURCE"),
        Field(name: "SOURCE_DESCRIPTION", type: "string", title: "Дополнительно об источнике"),
        Field(name: "LEAD_ID", type: "crm_lead", title: "Лид", readOnly: true),
        Field(name: "ADDITIONAL_INFO", type: "string", title: "Дополнительная информация"),
        Field(name: "ORIGINATOR_ID", type: "string", title: "Внешний источник"),
        Field(name: "ORIGIN_ID", type: "string", title: "Идентификатор элемента во внешнем источнике"),
        Field(name: "LAST_ACTIVITY_TIME", type: "datetime", title: "Последняя активность", readOnly: true),
        Field(name: "LAST_ACTIVITY_BY", type: "user", title: "Автор последней активности", readOnly: true),
        Field(name: "UTM_SOURCE", type: "string", title: "Рекламная система"),
        Field(name: "UTM_MEDIUM", type: "string", title: "Тип трафика"),
        Field(name: "UTM_CAMPAIGN", type: "string", title: "Обозначение рекламной кампании"),
        Field(name: "UTM_CONTENT", type: "string", title: "Содержание кампании"),
        Field(name: "UTM_TERM", type: "string", title: "Условие поиска кампании"),
    ]

    static let names: [String] = fields.map(\.name)
    private static let byName: [String: Field] = Dictionary(uniqueKeysWithValues: fields.map { ($0.name, $0) })

    static func field(_ name: String) -> Field? { byName[name] }

    // MARK: Values

    /// The wire value of a standard field (`nil` = JSON null), or `nil` when there is no such field.
    static func value(_ name: String, of deal: BitrixDeal, portal: BitrixPortal) -> String?? {
        func flag(_ value: Bool) -> String { value ? "Y" : "N" }
        switch name {
        case "ID": return .some(String(deal.id))
        case "TITLE": return .some(deal.title)
        case "TYPE_ID": return .some(deal.typeID)
        case "CATEGORY_ID": return .some(String(deal.categoryID))
        case "STAGE_ID": return .some(deal.stageID)
        case "STAGE_SEMANTIC_ID": return .some(deal.stageSemanticID)
        case "IS_NEW": return .some(flag(portal.stage(deal.stageID)?.isFirst ?? false))
        case "IS_RECURRING", "IS_RETURN_CUSTOMER", "IS_REPEATED_APPROACH": return .some("N")
        case "PROBABILITY": return .some(deal.probability.map(String.init))
        case "CURRENCY_ID": return .some(deal.currencyID)
        case "OPPORTUNITY": return .some(money(deal.opportunity))
        case "IS_MANUAL_OPPORTUNITY": return .some(flag(deal.isManualOpportunity))
        case "TAX_VALUE": return .some("0.00")
        case "COMPANY_ID": return .some(deal.companyID.map(String.init))
        case "CONTACT_ID": return .some(deal.contactID.map(String.init))
        case "BEGINDATE": return .some(deal.beginDate.flatMap(portal.format(day:)))
        case "CLOSEDATE": return .some(deal.closeDate.flatMap(portal.format(day:)))
        case "OPENED": return .some(flag(deal.opened))
        case "CLOSED": return .some(flag(deal.closed))
        case "COMMENTS": return .some(deal.comments)
        case "ASSIGNED_BY_ID": return .some(String(deal.assignedByID))
        case "CREATED_BY_ID", "LAST_ACTIVITY_BY": return .some(String(deal.createdByID))
        case "MODIFY_BY_ID": return .some(String(deal.modifyByID))
        case "MOVED_BY_ID": return .some(String(deal.movedByID))
        case "DATE_CREATE", "LAST_ACTIVITY_TIME": return .some(portal.format(seconds: deal.dateCreate))
        case "DATE_MODIFY": return .some(portal.format(seconds: deal.dateModify))
        case "MOVED_TIME": return .some(portal.format(seconds: deal.movedTime))
        case "SOURCE_ID": return .some(deal.sourceID)
        case "SOURCE_DESCRIPTION": return .some(deal.sourceDescription)
        case "ORIGINATOR_ID": return .some(deal.originatorID)
        case "ORIGIN_ID": return .some(deal.originID)
        case "QUOTE_ID", "LEAD_ID", "ADDITIONAL_INFO", "UTM_SOURCE", "UTM_MEDIUM", "UTM_CAMPAIGN", "UTM_CONTENT", "UTM_TERM":
            return .some(nil)
        default: return nil
        }
    }

    /// `15000` → `"15000.00"`.
    static func money(_ value: Decimal) -> String {
        DecimalString.format(DecimalString.rounded(value, scale: 2), minimumFractionDigits: 2)
    }

    /// How a field's value compares in `order` and `filter`: numbers as numbers, dates as instants, the rest as
    /// text (case-insensitive, as MySQL compares). `nil` when the deal has no such field.
    static func key(_ name: String, of deal: BitrixDeal, portal: BitrixPortal) -> BitrixSortKey? {
        if let field = byName[name] {
            guard case .some(let wire) = value(name, of: deal, portal: portal) else { return nil }
            return BitrixSortKey(wire: wire, type: field.type, portal: portal)
        }
        guard let userField = portal.userField(name) else { return nil }
        let type = userField.kind == .string ? "string" : "double"
        return BitrixSortKey(wire: deal.userField(name), type: type, portal: portal)
    }

    /// Every value of a field for filtering (several for a multiple user field).
    static func keys(_ name: String, of deal: BitrixDeal, portal: BitrixPortal) -> [BitrixSortKey]? {
        guard let userField = portal.userField(name), userField.multiple else {
            return key(name, of: deal, portal: portal).map { [$0] }
        }
        let type = userField.kind == .string ? "string" : "double"
        let values = deal.userFields[name] ?? []
        return values.isEmpty ? [.null] : values.map { BitrixSortKey(wire: $0, type: type, portal: portal) }
    }

    /// The type `filter` values of a field are read as.
    static func filterType(_ name: String, portal: BitrixPortal) -> String? {
        if let field = byName[name] { return field.type }
        guard let userField = portal.userField(name) else { return nil }
        return userField.kind == .string ? "string" : "double"
    }
}
