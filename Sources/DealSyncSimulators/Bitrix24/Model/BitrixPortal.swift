import Foundation

/// The portal's fixed setup — funnels, stages, users, user fields, time zone — with the look-ups the methods need.
struct BitrixPortal: Sendable {
    typealias Category = Bitrix24Simulator.Category
    typealias Stage = Bitrix24Simulator.Stage
    typealias User = Bitrix24Simulator.User
    typealias UserField = Bitrix24Simulator.UserField

    /// A stage with where it lives.
    struct StageRef: Sendable, Equatable {
        var id: String
        var categoryID: Int
        var stage: Stage
        /// `ID` of the status record (`crm.status.list`).
        var recordID: Int
        /// Whether it is the funnel's first stage (`IS_NEW`).
        var isFirst: Bool
        /// `EXTRA.SEMANTICS`: the failure stages after the first are "apology".
        var extraSemantics: String
    }

    let categories: [Category]
    let users: [User]
    let userFields: [UserField]
    let offsetSeconds: Int
    let currency: String
    let currencies: Set<String>
    private let stagesByID: [String: StageRef]

    init(_ configuration: Bitrix24Simulator.Configuration) {
        var categories = configuration.categories
        if !categories.contains(where: { $0.id == 0 }) {
            categories.insert(Bitrix24Simulator.Configuration.defaultCategories[0], at: 0)
        }
        self.categories = categories.sorted { ($0.sort, $0.id) < ($1.sort, $1.id) }
        users = configuration.users.sorted { $0.id < $1.id }
        userFields = configuration.userFields
        offsetSeconds = configuration.timeZoneOffsetSeconds
        currency = configuration.currency
        currencies = Set(configuration.currencies + [configuration.currency])
        var stages: [String: StageRef] = [:]
        var recordID = 101
        for category in categories.sorted(by: { $0.id < $1.id }) {
            var sawFailure = false
            for (index, stage) in category.stages.enumerated() {
                let extra: String
                switch stage.semantics {
                case .process: extra = "process"
                case .success: extra = "success"
                case .failure: extra = sawFailure ? "apology" : "failure"
                }
                if stage.semantics == .failure { sawFailure = true }
                let id = category.stageID(stage.code)
                stages[id] = StageRef(
                    id: id, categoryID: category.id, stage: stage, recordID: recordID, isFirst: index == 0,
                    extraSemantics: extra)
                recordID += 2
            }
        }
        stagesByID = stages
    }

    // MARK: Funnels and stages

    func category(_ id: Int) -> Category? { categories.first { $0.id == id } }

    func stage(_ id: String) -> StageRef? { stagesByID[id] }

    /// The stages of a funnel in order.
    func stages(in categoryID: Int) -> [StageRef] {
        guard let category = category(categoryID) else { return [] }
        return category.stages.compactMap { stagesByID[category.stageID($0.code)] }
    }

    /// Where new deals of a funnel start.
    func firstStage(in categoryID: Int) -> StageRef? { stages(in: categoryID).first }

    // MARK: Users and user fields

    func user(_ id: Int) -> User? { users.first { $0.id == id } }

    func userField(_ name: String) -> UserField? { userFields.first { $0.name == name } }

    // MARK: Time

    /// `2026-11-23T14:29:00+03:00`: PHP's `date('c')` in the portal's time zone.
    func format(seconds: Int) -> String {
        DateText.php(seconds: Int64(seconds), offsetSeconds: offsetSeconds)
    }

    /// A day (`YYYY-MM-DD`) as midnight in the portal's time zone.
    func format(day: String) -> String? { midnight(day).map { format(seconds: $0) } }

    /// The day (`YYYY-MM-DD`) an instant falls on in the portal's time zone.
    func day(of seconds: Int) -> String { String(format(seconds: seconds).prefix(10)) }

    /// Parses what Bitrix24 accepts for dates: ISO-8601 with or without an offset (without one, the portal's
    /// time zone), `YYYY-MM-DD`, and the Russian site format `DD.MM.YYYY[ HH:MM[:SS]]`.
    func parseDateTime(_ raw: String) -> Int? {
        let text = raw.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { return nil }
        if let seconds = DateText.seconds(text) { return Int(seconds) }
        var normalized = text
        if let (day, rest) = Self.siteFormat(text) { normalized = rest.isEmpty ? day : day + "T" + rest }
        if normalized.count == 10 { normalized += "T00:00:00" }
        if normalized.count == 16 { normalized += ":00" }
        return DateText.seconds(normalized, defaultOffset: offsetSeconds).map { Int($0) }
    }

    /// The day a date value names, in the portal's time zone.
    func parseDay(_ raw: String) -> String? { parseDateTime(raw).map { day(of: $0) } }

    private func midnight(_ day: String) -> Int? {
        DateText.seconds(day + "T00:00:00", defaultOffset: offsetSeconds).map { Int($0) }
    }

    /// `23.11.2026 14:29:00` → (`2026-11-23`, `14:29:00`).
    private static func siteFormat(_ text: String) -> (String, String)? {
        let parts = text.split(separator: " ", maxSplits: 1).map(String.init)
        let date = parts[0].split(separator: ".").map(String.init)
        guard date.count == 3, date[0].count == 2, date[1].count == 2, date[2].count == 4 else { return nil }
        return ("\(date[2])-\(date[1])-\(date[0])", parts.count > 1 ? parts[1] : "")
    }
}
