extension AmoCRMSimulator.Configuration {
    public typealias Pipeline = AmoCRMSimulator.Pipeline
    public typealias Status = AmoCRMSimulator.Status
    public typealias User = AmoCRMSimulator.User
    public typealias CustomField = AmoCRMSimulator.CustomField
    public typealias LossReason = AmoCRMSimulator.LossReason
    public typealias SeedLead = AmoCRMSimulator.SeedLead

    /// Ids of the default account, for tests and demos that refer to them.
    public enum Default {
        public static let toursPipeline = 7_310_001
        public static let corporatePipeline = 7_310_002
        public static let unsorted = 61_200_001
        public static let newRequest = 61_200_002
        public static let offerSent = 61_200_003
        public static let booked = 61_200_004
        public static let corporateBrief = 61_200_011
        public static let corporateContract = 61_200_012

        public static let admin = 9_100_001
        public static let salesAnna = 9_100_002
        public static let salesBoris = 9_100_003

        /// Text field holding the MasterDeal id (dealsync looks leads up by it with `query`).
        public static let masterDealIDField = 880_001
        public static let travellersField = 880_002
        public static let departureDateField = 880_003
        public static let destinationField = 880_004
        public static let returnDateTimeField = 880_005
        public static let insuranceField = 880_006

        public static let destinationTurkey = 1_450_001
        public static let destinationEgypt = 1_450_002
        public static let destinationThailand = 1_450_003
        public static let destinationItaly = 1_450_004

        /// The account's tracking fields (`tracking_data`), from `UTM_SOURCE` on; see ``trackingCodes``.
        public static let utmSourceField = 880_101
        public static let utmReferrerField = 880_106

        public static let lossTooExpensive = 5_020_001
        public static let lossNoAnswer = 5_020_002
    }

    static var defaultPipelines: [Pipeline] {
        [
            Pipeline(
                id: Default.toursPipeline, name: "Туры", isMain: true,
                statuses: [
                    Status(id: Default.unsorted, name: "Неразобранное", color: "#c1c1c1", type: 1, isEditable: false),
                    Status(id: Default.newRequest, name: "Новая заявка", color: "#99ccff"),
                    Status(id: Default.offerSent, name: "Подбор отправлен", color: "#ffcc66"),
                    Status(id: Default.booked, name: "Бронь", color: "#87f2c0"),
                ]),
            Pipeline(
                id: Default.corporatePipeline, name: "Корпоративные",
                statuses: [
                    Status(id: Default.corporateBrief, name: "Бриф", color: "#fffeb2"),
                    Status(id: Default.corporateContract, name: "Договор", color: "#f9deff"),
                    Status(id: AmoCRMSimulator.Status.won, name: "Тур оплачен", color: "#CCFF66", isEditable: false),
                ]),
        ]
    }

    static var defaultUsers: [User] {
        [
            User(id: Default.admin, name: "Ольга Админ", email: "admin@sunrisetours.example", isAdmin: true),
            User(id: Default.salesAnna, name: "Анна Продажи", email: "anna@sunrisetours.example", groupID: 372_001),
            User(
                id: Default.salesBoris, name: "Борис Продажи", email: "boris@sunrisetours.example", lang: "en",
                groupID: 372_001),
        ]
    }

    /// The codes of the tracking fields every account has, in amoCRM's order.
    public static let trackingCodes = ["UTM_SOURCE", "UTM_MEDIUM", "UTM_CAMPAIGN", "UTM_CONTENT", "UTM_TERM", "UTM_REFERRER"]

    /// The predefined tracking fields, numbered from `firstID`.
    static func trackingFields(firstID: Int) -> [CustomField] {
        trackingCodes.enumerated().map { index, code in
            CustomField(id: firstID + index, name: code.lowercased(), type: .trackingData, code: code)
        }
    }

    static var defaultCustomFields: [CustomField] {
        [
            CustomField(id: Default.masterDealIDField, name: "MasterDeal ID", type: .text, code: "MASTER_DEAL_ID"),
            CustomField(id: Default.travellersField, name: "Туристов", type: .numeric),
            CustomField(id: Default.departureDateField, name: "Дата вылета", type: .date),
            CustomField(
                id: Default.destinationField, name: "Направление", type: .select,
                enums: [
                    .init(id: Default.destinationTurkey, value: "Турция"),
                    .init(id: Default.destinationEgypt, value: "Египет"),
                    .init(id: Default.destinationThailand, value: "Таиланд"),
                    .init(id: Default.destinationItaly, value: "Италия"),
                ]),
            CustomField(id: Default.returnDateTimeField, name: "Возвращение", type: .dateTime),
            CustomField(id: Default.insuranceField, name: "Страховка", type: .checkbox),
        ] + trackingFields(firstID: Default.utmSourceField)
    }

    static var defaultLossReasons: [LossReason] {
        [LossReason(id: Default.lossTooExpensive, name: "Дорого"), LossReason(id: Default.lossNoAnswer, name: "Не отвечает")]
    }

    static var defaultSeedLeads: [SeedLead] {
        [
            SeedLead(
                name: "Семья Ивановых, Анталья", price: 185_000, statusID: Default.offerSent,
                responsibleUserID: Default.salesAnna,
                customFields: [
                    Default.travellersField: ["4"], Default.destinationField: ["Турция"],
                    Default.departureDateField: ["1780272000"], Default.utmSourceField: ["yandex"],
                    Default.utmReferrerField: ["https://ya.ru/"],
                ], ageSeconds: 7200, tags: ["семья", "горящий"]),
            SeedLead(
                name: "Петров, Хургада", price: 96_500, statusID: Default.newRequest,
                responsibleUserID: Default.salesBoris,
                customFields: [Default.travellersField: ["2"], Default.destinationField: ["Египет"]], ageSeconds: 5400),
            SeedLead(
                name: "ООО Вектор, выездной семинар", price: 1_250_000, pipelineID: Default.corporatePipeline,
                statusID: Default.corporateBrief, responsibleUserID: Default.admin,
                customFields: [Default.travellersField: ["18"]], ageSeconds: 3600, tags: ["корпоратив"]),
            SeedLead(
                name: "Сидорова, Пхукет", price: 240_000, statusID: AmoCRMSimulator.Status.won,
                responsibleUserID: Default.salesAnna,
                customFields: [Default.destinationField: ["Таиланд"], Default.insuranceField: ["1"]], ageSeconds: 1800),
        ]
    }
}
