extension Bitrix24Simulator.Configuration {
    public typealias Category = Bitrix24Simulator.Category
    public typealias Stage = Bitrix24Simulator.Stage
    public typealias User = Bitrix24Simulator.User
    public typealias UserField = Bitrix24Simulator.UserField
    public typealias SeedDeal = Bitrix24Simulator.SeedDeal
    public typealias EventHandler = Bitrix24Simulator.EventHandler

    /// Ids and codes of the default portal, for tests and demos that refer to them.
    public enum Default {
        /// The funnel dealsync works in.
        public static let clientsCategory = 2
        public static let firstContact = "C2:NEW"
        public static let consultation = "C2:PREPARATION"
        public static let deciding = "C2:PREPAYMENT_INVOICE"
        public static let servicePurchased = "C2:EXECUTING"
        public static let activeClient = "C2:FINAL_INVOICE"
        public static let completed = "C2:WON"
        public static let inactive = "C2:LOSE"

        /// The user dealsync's webhook and OAuth application act as.
        public static let integrationUser = 1
        public static let coachAnna = 12
        public static let coachIgor = 15

        public static let webhookCode = "x7k2m9q4w1e8r5t3"

        public static let clientPhoneField = "UF_CRM_CLIENT_PHONE"
        public static let programField = "UF_CRM_PROGRAM"
        public static let sessionsField = "UF_CRM_SESSIONS"
        public static let programWeightLoss = 41
        public static let programStrength = 42
        public static let programRehab = 43
    }

    static var defaultCategories: [Category] {
        [
            Category(
                id: 0, name: "Общая", sort: 300,
                stages: [
                    Stage(code: "NEW", name: "Новая", sort: 10),
                    Stage(code: "PREPARATION", name: "Подготовка документов", sort: 20, color: "#2FC6F6"),
                    Stage(code: "PREPAYMENT_INVOICE", name: "Счёт на предоплату", sort: 30, color: "#55D0E0"),
                    Stage(code: "EXECUTING", name: "В работе", sort: 40, color: "#47E4C2"),
                    Stage(code: "FINAL_INVOICE", name: "Финальный счёт", sort: 50, color: "#FFA900"),
                    Stage(code: "WON", name: "Сделка успешна", sort: 60, semantics: .success, color: "#7BD500"),
                    Stage(code: "LOSE", name: "Сделка провалена", sort: 70, semantics: .failure, color: "#FF5752"),
                    Stage(code: "APOLOGY", name: "Анализ причины провала", sort: 80, semantics: .failure, color: "#FF5752"),
                ]),
            Category(
                id: Default.clientsCategory, name: "Клиенты", sort: 200,
                stages: [
                    Stage(code: "NEW", name: "Первичный контакт", sort: 10),
                    Stage(code: "PREPARATION", name: "Консультация", sort: 20, color: "#2FC6F6"),
                    Stage(code: "PREPAYMENT_INVOICE", name: "Принимают решение", sort: 30, color: "#55D0E0"),
                    Stage(code: "EXECUTING", name: "Куплена услуга", sort: 40, color: "#47E4C2"),
                    Stage(code: "FINAL_INVOICE", name: "Активный клиент", sort: 50, color: "#FFA900"),
                    Stage(code: "WON", name: "Завершен", sort: 60, semantics: .success, color: "#7BD500"),
                    Stage(code: "LOSE", name: "Неактивен", sort: 70, semantics: .failure, color: "#FF5752"),
                ]),
        ]
    }

    static var defaultUsers: [User] {
        [
            User(
                id: Default.integrationUser, name: "Интеграция", lastName: "Dealsync", email: "integration@fitcoach.example",
                workPosition: "Сервисный пользователь"),
            User(id: Default.coachAnna, name: "Анна", lastName: "Смирнова", email: "anna@fitcoach.example", workPosition: "Тренер"),
            User(id: Default.coachIgor, name: "Игорь", lastName: "Волков", email: "igor@fitcoach.example", workPosition: "Тренер"),
        ]
    }

    static var defaultUserFields: [UserField] {
        [
            UserField(id: 301, name: Default.clientPhoneField, kind: .string, label: "Телефон клиента"),
            UserField(
                id: 302, name: Default.programField, kind: .enumeration, label: "Программа",
                items: [
                    .init(id: Default.programWeightLoss, value: "Снижение веса", sort: 10),
                    .init(id: Default.programStrength, value: "Силовая подготовка", sort: 20),
                    .init(id: Default.programRehab, value: "Реабилитация", sort: 30),
                ]),
            UserField(id: 303, name: Default.sessionsField, kind: .double, label: "Количество занятий"),
        ]
    }

    static var defaultSeedDeals: [SeedDeal] {
        let clients = String(Default.clientsCategory)
        return [
            SeedDeal(
                fields: [
                    "TITLE": "Марина Котова — снижение веса", "CATEGORY_ID": clients, "STAGE_ID": Default.consultation,
                    "OPPORTUNITY": "15000", "ASSIGNED_BY_ID": "12", "UF_CRM_CLIENT_PHONE": "+7 916 555-12-34",
                    "UF_CRM_PROGRAM": "41", "UF_CRM_SESSIONS": "12",
                ], createdBy: Default.coachAnna, ageSeconds: 86_400),
            SeedDeal(
                fields: [
                    "TITLE": "Олег Панов — силовая", "CATEGORY_ID": clients, "STAGE_ID": Default.activeClient,
                    "OPPORTUNITY": "32000", "ASSIGNED_BY_ID": "15", "UF_CRM_PROGRAM": "42", "UF_CRM_SESSIONS": "24",
                ],
                createdBy: Default.coachIgor, ageSeconds: 7200),
            SeedDeal(
                fields: [
                    "TITLE": "Елена Руденко — реабилитация", "CATEGORY_ID": clients, "STAGE_ID": Default.firstContact,
                    "ASSIGNED_BY_ID": "12", "UF_CRM_PROGRAM": "43",
                ], createdBy: Default.coachAnna, ageSeconds: 3600),
            SeedDeal(
                fields: [
                    "TITLE": "Сергей Лямин — абонемент", "CATEGORY_ID": clients, "STAGE_ID": Default.completed,
                    "OPPORTUNITY": "9000", "ASSIGNED_BY_ID": "15", "UF_CRM_SESSIONS": "8",
                ],
                createdBy: Default.coachIgor, ageSeconds: 1800),
            SeedDeal(
                fields: ["TITLE": "Аренда зала на выходные", "OPPORTUNITY": "5000", "ASSIGNED_BY_ID": "12"],
                createdBy: Default.coachAnna, ageSeconds: 600),
        ]
    }
}
