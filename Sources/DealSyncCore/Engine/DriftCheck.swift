/// Compares what both sides hold now, field by field, for the reconciler.
///
/// A difference is drift only when no in-flight work explains it: a pending write of ours to either side means
/// the sides are still converging.
public struct DriftCheck: Sendable {
    public let mapping: Mapping

    public init(mapping: Mapping) {
        self.mapping = mapping
    }

    public struct Difference: Sendable, Equatable {
        public var field: String
        /// MasterDeal's value (canonical) and the CRM's (its representation).
        public var masterValue: FieldValue
        public var crmValue: FieldValue
        public var masterAt: SourceStamp?
        public var crmAt: SourceStamp?
        /// The side whose record changed last, when the stamps say.
        public var lastChanged: Side?
        /// A write of ours is still on its way to a side: not drift (yet).
        public var inFlight: Bool
        public var repair: RepairPolicy
        public var pii: Bool
    }

    public enum Result: Sendable, Equatable {
        /// The record is linked but gone from one side.
        case missing(Side)
        case differences([Difference])
    }

    /// `master` and `crm` are fresh reads of both records (complete observations); `nil` when a side has no record.
    public func compare(master: Observation?, crm: Observation?, states: [String: FieldState]) -> Result {
        guard let master else { return .missing(.master) }
        guard let crm else { return .missing(.crm) }
        var differences: [Difference] = []
        for field in mapping.fields {
            let transformer = FieldTransformer(field: field, mapping: mapping)
            let masterValue = transformer.masterValue(in: master.fields) ?? (master.isComplete ? transformer.absent(on: .master) : nil)
            let crmValue = transformer.crmValue(in: crm.fields) ?? (crm.isComplete ? transformer.absent(on: .crm) : nil)
            guard let masterValue, let crmValue else { continue }
            if transformer.agrees(crmValue, on: .crm, with: masterValue) { continue }
            // Values that cannot be mapped are reported as unmapped values when they arrive, not as drift.
            guard case .success = transformer.toMaster(crmValue) else { continue }
            let state = states[field.name]
            let inFlight = !(state?.master.pending.isEmpty ?? true) || !(state?.crm.pending.isEmpty ?? true)
            // The side whose value moved away from what dealsync last knew of it changed last; when both did
            // (or nothing is known), the record stamps decide.
            let masterMoved = state?.master.known.map { $0 != masterValue } ?? false
            let crmMoved = state?.crm.known.map { $0 != crmValue } ?? false
            let lastChanged: Side? =
                switch (masterMoved, crmMoved, master.stamp, crm.stamp) {
                case (true, false, _, _): .master
                case (false, true, _, _): .crm
                case (_, _, let m?, let c?): m.millis > c.millis ? .master : (c.millis > m.millis ? .crm : nil)
                default: nil
                }
            differences.append(
                Difference(
                    field: field.name, masterValue: masterValue, crmValue: crmValue, masterAt: master.stamp, crmAt: crm.stamp,
                    lastChanged: lastChanged, inFlight: inFlight, repair: field.repair, pii: field.pii))
        }
        return .differences(differences)
    }
}
