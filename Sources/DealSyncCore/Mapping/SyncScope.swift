/// Which records take part in the sync (`scope:` in a mapping). Pure.
///
/// Scope decides creation only: a record outside it is never created on the other side, and one that moves
/// into it later (its stage changes, it is edited after `updated_since`) is created then. A record already
/// linked stays linked and keeps syncing whatever its stage.
public struct SyncScope: Sendable, Hashable {
    /// The canonical stages a record must be in (a CRM record's stage is read through the stage matrix, so a
    /// record in another pipeline or an unmapped stage is outside); `nil`: any stage.
    public var stages: Set<String>?
    /// A record whose last change is older than this instant (unix milliseconds) is outside; `nil`: any age.
    public var updatedSinceMillis: Int64?

    public init(stages: Set<String>? = nil, updatedSinceMillis: Int64? = nil) {
        self.stages = stages
        self.updatedSinceMillis = updatedSinceMillis
    }

    /// Whether a record in `canonicalStage` (`nil` when its stage is unknown or unmapped), last changed at
    /// `stamp`, takes part.
    public func includes(canonicalStage: String?, stamp: SourceStamp?) -> Bool {
        if let stages {
            guard let canonicalStage, stages.contains(canonicalStage) else { return false }
        }
        if let since = updatedSinceMillis {
            guard let stamp, stamp.millis >= since else { return false }
        }
        return true
    }
}

extension Mapping {
    /// The canonical stage `observation` says its record is in, through the stage field and the stage matrix.
    public func canonicalStage(of observation: Observation) -> String? {
        guard let field = fields.first(where: { $0.transform == .stage }) else { return nil }
        switch observation.side {
        case .master:
            guard case .text(let stage)? = observation.fields[field.master] else { return nil }
            return stage
        case .crm:
            let key: String
            switch observation.fields[field.crm] {
            case .text(let text)?: key = text
            case .integer(let number)?: key = String(number)
            default: return nil
            }
            return stages.canonicalStage(for: key)
        }
    }

    /// Whether `observation`'s record takes part in the sync (``scope``).
    public func inScope(_ observation: Observation) -> Bool {
        scope.includes(canonicalStage: scope.stages == nil ? nil : canonicalStage(of: observation), stamp: observation.stamp)
    }
}
