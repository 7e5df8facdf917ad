import Foundation

/// One deal as the simulated portal stores it. On the wire (``BitrixDealJSON``) almost every value is a string.
public struct BitrixDeal: Sendable, Equatable {
    public var id: Int
    public var title: String
    public var typeID: String?
    public var categoryID: Int
    public var stageID: String
    /// `P`, `S` or `F`, from the stage; `CLOSED` is `Y` for `S` and `F`.
    public var stageSemanticID: String
    public var probability: Int?
    public var opportunity: Decimal
    public var isManualOpportunity: Bool
    public var currencyID: String
    public var companyID: Int?
    public var contactID: Int?
    /// Days as `YYYY-MM-DD`.
    public var beginDate: String?
    public var closeDate: String?
    public var assignedByID: Int
    public var createdByID: Int
    public var modifyByID: Int
    public var movedByID: Int
    /// Unix seconds (one-second resolution, as at Bitrix24).
    public var dateCreate: Int
    public var dateModify: Int
    public var movedTime: Int
    public var opened: Bool
    public var comments: String?
    public var sourceID: String?
    public var sourceDescription: String?
    /// The external system that owns the deal and the deal's id there.
    public var originatorID: String?
    public var originID: String?
    /// `UF_CRM_*` → values (one for single fields; enumeration values are item ids).
    public var userFields: [String: [String]]

    public var closed: Bool { stageSemanticID != "P" }

    /// A user field's single value, if set.
    public func userField(_ name: String) -> String? { userFields[name]?.first }

    init(id: Int, categoryID: Int, stageID: String, semantic: String, currency: String, actor: Int, now: Int) {
        self.id = id
        title = ""
        typeID = "SALE"
        self.categoryID = categoryID
        self.stageID = stageID
        stageSemanticID = semantic
        probability = nil
        opportunity = 0
        isManualOpportunity = false
        currencyID = currency
        companyID = nil
        contactID = nil
        beginDate = nil
        closeDate = nil
        assignedByID = actor
        createdByID = actor
        modifyByID = actor
        movedByID = actor
        dateCreate = now
        dateModify = now
        movedTime = now
        opened = true
        comments = nil
        sourceID = nil
        sourceDescription = nil
        originatorID = nil
        originID = nil
        userFields = [:]
    }
}

/// What happened to a deal; each kind fires its event.
public struct BitrixDealChange: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        case added, updated, deleted, movedToCategory

        /// The outbound event it fires.
        public var eventName: String {
            switch self {
            case .added: "ONCRMDEALADD"
            case .updated: "ONCRMDEALUPDATE"
            case .deleted: "ONCRMDEALDELETE"
            case .movedToCategory: "ONCRMDEALMOVETOCATEGORY"
            }
        }
    }

    public var kind: Kind
    public var deal: BitrixDeal
    /// The user who made the change.
    public var actor: Int
    /// Made by automation (a robot or business process): app events then carry no access token.
    public var byAutomation: Bool
}
