/// Canonical stages and the CRM stages that stand for each.
///
/// Several CRM stages may collapse into one canonical stage; the first CRM stage listed is the one dealsync
/// writes. A CRM record already in any stage of the canonical stage being written is left where it is.
public struct StageMatrix: Sendable, Hashable {
    public struct Entry: Sendable, Hashable {
        public var canonical: String
        /// CRM stage keys: amoCRM `"<pipeline_id>:<status_id>"`, Bitrix24 `STAGE_ID` such as `C2:PREPARATION`.
        public var crm: [CRMStage]
        public var location: SourceLocation

        public init(canonical: String, crm: [CRMStage], location: SourceLocation = .init(file: "<memory>", line: 1, column: 1)) {
            self.canonical = canonical
            self.crm = crm
            self.location = location
        }
    }

    public struct CRMStage: Sendable, Hashable {
        public var key: String
        public var name: String?
        public var location: SourceLocation

        public init(key: String, name: String? = nil, location: SourceLocation = .init(file: "<memory>", line: 1, column: 1)) {
            self.key = key
            self.name = name
            self.location = location
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) { self.entries = entries }

    public var canonicalStages: [String] { entries.map(\.canonical) }

    /// The CRM stage to write for a canonical stage, or `nil` when the matrix has none.
    public func crmStage(for canonical: String) -> String? {
        entries.first { $0.canonical == canonical }?.crm.first?.key
    }

    /// The canonical stage a CRM stage stands for.
    public func canonicalStage(for crmKey: String) -> String? {
        entries.first { $0.crm.contains { $0.key == crmKey } }?.canonical
    }

    /// A stage's display name, for timelines and explain output.
    public func crmStageName(_ crmKey: String) -> String? {
        for entry in entries {
            if let stage = entry.crm.first(where: { $0.key == crmKey }) { return stage.name }
        }
        return nil
    }

    /// The amoCRM key for a (pipeline, status) pair.
    public static func amoKey(pipeline: Int64, status: Int64) -> String { "\(pipeline):\(status)" }
}

/// MasterDeal owners and the CRM users they are.
public struct OwnerDirectory: Sendable, Hashable {
    public struct Entry: Sendable, Hashable {
        /// MasterDeal `owner_id`.
        public var master: String
        /// The CRM user id (amoCRM numeric id, Bitrix24 `ID`), as text.
        public var crm: String
        public var email: String?
        public var name: String?
        public var location: SourceLocation

        public init(
            master: String, crm: String, email: String? = nil, name: String? = nil,
            location: SourceLocation = .init(file: "<memory>", line: 1, column: 1)
        ) {
            self.master = master
            self.crm = crm
            self.email = email
            self.name = name
            self.location = location
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) { self.entries = entries }

    public func crmUser(forOwner owner: String) -> String? { entries.first { $0.master == owner }?.crm }
    public func owner(forCRMUser user: String) -> String? { entries.first { $0.crm == user }?.master }
}
