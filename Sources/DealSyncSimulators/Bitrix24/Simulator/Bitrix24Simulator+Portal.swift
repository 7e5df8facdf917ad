extension Bitrix24Simulator {
    /// A deal funnel (воронка, `CATEGORY_ID`). Funnel 0 is the default one.
    public struct Category: Sendable, Equatable {
        public var id: Int
        public var name: String
        public var sort: Int
        /// In order; the first is where new deals start.
        public var stages: [Stage]

        public init(id: Int, name: String, sort: Int = 100, stages: [Stage]) {
            self.id = id
            self.name = name
            self.sort = sort
            self.stages = stages
        }

        /// `NEW` in funnel 0, `C2:NEW` in funnel 2.
        public func stageID(_ code: String) -> String { id == 0 ? code : "C\(id):\(code)" }

        /// `DEAL_STAGE` for funnel 0, `DEAL_STAGE_2` for funnel 2 (`crm.status.list`).
        public var statusEntityID: String { id == 0 ? "DEAL_STAGE" : "DEAL_STAGE_\(id)" }
    }

    /// A stage of a funnel. Its `STAGE_ID` is ``code`` in funnel 0 and `C<n>:<code>` in funnel n.
    public struct Stage: Sendable, Equatable {
        public enum Semantics: String, Sendable, Equatable {
            case process, success, failure

            /// `STAGE_SEMANTIC_ID` of deals in the stage.
            public var letter: String {
                switch self {
                case .process: "P"
                case .success: "S"
                case .failure: "F"
                }
            }
        }

        public var code: String
        public var name: String
        public var sort: Int
        public var semantics: Semantics
        public var color: String

        public init(code: String, name: String, sort: Int, semantics: Semantics = .process, color: String = "#39A8EF") {
            self.code = code
            self.name = name
            self.sort = sort
            self.semantics = semantics
            self.color = color
        }
    }

    /// A portal employee (`user.get`).
    public struct User: Sendable, Equatable {
        public var id: Int
        public var name: String
        public var lastName: String
        public var email: String
        public var active: Bool
        public var workPosition: String

        public init(id: Int, name: String, lastName: String, email: String, active: Bool = true, workPosition: String = "") {
            self.id = id
            self.name = name
            self.lastName = lastName
            self.email = email
            self.active = active
            self.workPosition = workPosition
        }
    }

    /// A deal user field (`UF_CRM_*`).
    public struct UserField: Sendable, Equatable {
        /// Bitrix24's `USER_TYPE_ID` values the simulator supports.
        public enum Kind: String, Sendable, Equatable {
            case string, double, integer, boolean, enumeration
        }

        /// An enumeration choice: deals store its `ID`.
        public struct Item: Sendable, Equatable {
            public var id: Int
            public var value: String
            public var sort: Int

            public init(id: Int, value: String, sort: Int = 500) {
                self.id = id
                self.value = value
                self.sort = sort
            }
        }

        /// The field's own numeric id (`crm.deal.userfield.list` `ID`).
        public var id: Int
        /// `UF_CRM_...`
        public var name: String
        public var kind: Kind
        public var label: String
        public var multiple: Bool
        public var mandatory: Bool
        public var items: [Item]

        public init(
            id: Int, name: String, kind: Kind, label: String, multiple: Bool = false, mandatory: Bool = false,
            items: [Item] = []
        ) {
            self.id = id
            self.name = name
            self.kind = kind
            self.label = label
            self.multiple = multiple
            self.mandatory = mandatory
            self.items = items
        }
    }
}
