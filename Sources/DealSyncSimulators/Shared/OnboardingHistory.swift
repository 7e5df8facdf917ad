import DealSyncCore

/// Years of history in an amoCRM account and in MasterDeal, for onboarding tests, the demo and the benchmark:
/// deterministic from a seed, with known shares. Of every twenty leads, eight match a deal by phone (written
/// differently on each side, the title differing in half of them), two carry their deal's id in the link field,
/// one shares its phone with two deals (ambiguous), three are in a closed stage (outside an open-stages scope),
/// six match nothing; MasterDeal also holds, per twenty leads, one open deal of its own and one lost one.
public struct OnboardingHistory: Sendable {
    /// Where the account keeps things: the mapping's pipeline, statuses, users and fields.
    public struct Layout: Sendable {
        public var account: String
        /// amoCRM statuses of open stages, with the canonical stage each maps to.
        public var openStatuses: [(status: Int, stage: String)]
        /// A closed status (lost) outside an open-stages scope, and its canonical stage.
        public var closedStatus: (status: Int, stage: String)
        /// amoCRM user id and MasterDeal owner id of each salesperson.
        public var owners: [(crm: Int, master: String)]
        /// The amoCRM custom field and the MasterDeal attribute holding the customer's phone.
        public var phoneField: Int
        public var phoneAttribute: String
        /// The amoCRM custom field holding `master_deal_id`.
        public var linkField: Int

        public init(
            account: String, openStatuses: [(status: Int, stage: String)], closedStatus: (status: Int, stage: String),
            owners: [(crm: Int, master: String)], phoneField: Int, phoneAttribute: String, linkField: Int
        ) {
            self.account = account
            self.openStatuses = openStatuses
            self.closedStatus = closedStatus
            self.owners = owners
            self.phoneField = phoneField
            self.phoneAttribute = phoneAttribute
            self.linkField = linkField
        }
    }

    /// What onboarding must find, by construction.
    public struct Expected: Sendable, Equatable, Codable {
        public var leads = 0
        public var deals = 0
        public var linkByKey = 0
        public var linkByLinkField = 0
        public var ambiguousCRM = 0
        public var ambiguousMaster = 0
        public var outOfScopeCRM = 0
        public var outOfScopeMaster = 0
        public var createInMaster = 0
        public var createInCRM = 0
        /// Pairs whose titles differ.
        public var titlesDiffering = 0
    }

    public var leads: [AmoCRMSimulator.HistoricLead] = []
    public var deals: [(fields: MasterDealSimulator.JSONValue, updatedAtMillis: Int64)] = []
    public var expected = Expected()

    /// `count` leads (and their deals), the newest changed just before `now` (unix seconds), the oldest five years earlier.
    public init(leads count: Int, layout: Layout, seed: UInt64, now: Int) {
        var random = SplitMix64(seed: seed)
        let span = 5 * 365 * 86_400
        let step = max(span / max(count, 1), 1)
        for index in 0..<count {
            let updated = now - span + index * step + Int(random.next() % UInt64(max(step, 1)))
            let created = updated - Int(random.next() % 86_400)
            let owner = layout.owners[index % layout.owners.count]
            let open = layout.openStatuses[Int(random.next() % UInt64(layout.openStatuses.count))]
            let phone = 9_000_000_000 + index
            // The same phone as a salesperson types it into amoCRM, and as MasterDeal's form stores it.
            let digits = Array(String(phone))
            let amoPhone =
                "+7 (\(String(digits[0..<3]))) \(String(digits[3..<6]))-\(String(digits[6..<8]))-\(String(digits[8..<10]))"
            let masterPhone = "8\(phone)"
            let title = "Тур #\(index)"
            var fields = AmoLeadFields(
                name: title, price: 10_000 + index % 50 * 1_000, statusID: open.status, responsibleUserID: owner.crm,
                customFields: [layout.phoneField: [amoPhone]])
            // MasterDeal's copy changed an hour before or after the lead: the later one wins a `lww` field.
            let dealMillis = Int64(updated + (index % 4 < 2 ? 3_600 : -3_600)) * 1000
            func deal(_ id: String, name: String, stage: String, phone: String?) {
                var attributes: [String: MasterDealSimulator.JSONValue] = [:]
                if let phone { attributes[layout.phoneAttribute] = .string(phone) }
                deals.append(
                    (
                        .object([
                            "id": .string(id), "account_id": .string(layout.account), "opportunity_name": .string(name),
                            "stage": .string(stage), "owner_id": .string(owner.master),
                            "amount": .string(String(10_000 + index % 50 * 1_000)),
                            "currency": .string("RUB"), "attributes": .object(attributes),
                        ]), dealMillis
                    ))
            }
            switch index % 20 {
            case 0..<8:
                let name = index % 2 == 0 ? title : "\(title) (MasterDeal)"
                deal("md-h\(index)", name: name, stage: open.stage, phone: masterPhone)
                expected.linkByKey += 1
                if name != title { expected.titlesDiffering += 1 }
            case 8..<10:
                deal("md-h\(index)", name: title, stage: open.stage, phone: nil)
                fields.customFields[layout.linkField] = ["md-h\(index)"]
                expected.linkByLinkField += 1
            case 10:
                deal("md-h\(index)a", name: "\(title) a", stage: open.stage, phone: masterPhone)
                deal("md-h\(index)b", name: "\(title) b", stage: open.stage, phone: masterPhone)
                expected.ambiguousCRM += 1
                expected.ambiguousMaster += 2
            case 11..<14:
                fields.statusID = layout.closedStatus.status
                expected.outOfScopeCRM += 1
            default:
                expected.createInMaster += 1
            }
            if index % 20 == 0 {
                deal("md-own\(index)", name: "Только в MasterDeal #\(index)", stage: open.stage, phone: "8\(8_000_000_000 + index)")
                expected.createInCRM += 1
            } else if index % 20 == 1 {
                deal("md-lost\(index)", name: "Потерянная #\(index)", stage: layout.closedStatus.stage, phone: nil)
                expected.outOfScopeMaster += 1
            }
            leads.append(.init(fields: fields, userID: owner.crm, createdAt: created, updatedAt: updated))
        }
        expected.leads = leads.count
        expected.deals = deals.count
    }
}
