import DealSyncCore
import Foundation

/// Which mapped field a record key stands for on each system of a deal, and which values are personal.
///
/// Personal values (fields marked `pii: true`) are shown as the divergence log stores them
/// (``DivergenceEntry/mask(_:)``); every value of theirs met on the way is remembered, so that free text (an
/// error a target answered) never shows one either.
struct HistoryFields: Sendable {
    let masterConnector: String
    /// Per connector: record key → field name.
    private var names: [String: [String: String]] = [:]
    /// Per connector: field name → rule in words.
    private var rules: [String: [String: String]] = [:]
    private var personal: Set<String> = []
    private(set) var personalValues: Set<String> = []

    init(configuration: Configuration, connectors: [String]) {
        masterConnector = configuration.masterDeal?.id ?? "masterdeal"
        for id in connectors {
            guard let config = configuration.connector(id), let mapping = configuration.mapping(for: config) else { continue }
            for field in mapping.fields {
                names[id, default: [:]][field.crm] = field.name
                names[masterConnector, default: [:]][field.master] = field.name
                rules[id, default: [:]][field.name] = "\(field.direction.rawValue), \(field.conflict)"
                if field.pii { personal.insert(field.name) }
            }
        }
    }

    /// The field a record key of `connector` stands for.
    func field(key: String, connector: String) -> String? { names[connector]?[key] }

    /// Every mapped field name of the deal's connectors.
    var allFields: Set<String> { Set(names.values.flatMap(\.values)) }

    /// The field's direction and conflict rule in the mapping of a CRM connector.
    func rule(field: String, connector: String) -> String? { rules[connector]?[field] }

    func isPersonal(field: String?) -> Bool { field.map(personal.contains) ?? false }

    /// A value for people: masked when its field is personal (and remembered for ``redact(_:)``).
    mutating func show(_ value: FieldValue, field: String?) -> String {
        guard isPersonal(field: field) else { return value.description }
        remember(value)
        return DivergenceEntry.mask(value).description
    }

    mutating func remember(_ value: FieldValue) {
        for text in [value.plainText, value.description].compactMap({ $0 }) where text.count >= 4 && text != "null" {
            personalValues.insert(text)
        }
    }

    /// Free text with every personal value met replaced by the mask.
    func redact(_ text: String) -> String {
        var result = text
        for value in personalValues.sorted(by: { $0.count > $1.count }) where result.contains(value) {
            result = result.replacingOccurrences(of: value, with: "***")
        }
        return result
    }
}
