/// When a side says a state of a record was made, in that side's own clock.
///
/// MasterDeal also gives a version, which orders its states better than a timestamp; within one side the
/// version decides when both stamps carry one. Across sides only ``millis`` is comparable (last-write-wins).
public struct SourceStamp: Sendable, Codable, Comparable, CustomStringConvertible {
    /// Milliseconds since 1970 in the side's clock (amoCRM and Bitrix24 have one-second resolution).
    public var millis: Int64
    /// A per-record version when the side has one (MasterDeal).
    public var version: Int64?

    public init(millis: Int64, version: Int64? = nil) {
        self.millis = millis
        self.version = version
    }

    /// A stamp in seconds; one beyond what milliseconds can hold (a hostile or broken `ts`) is held at the
    /// largest (or smallest) stamp instead of trapping.
    public init(seconds: Int64, version: Int64? = nil) {
        let (millis, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        self.init(millis: overflow ? (seconds < 0 ? .min : .max) : millis, version: version)
    }

    public static func < (lhs: SourceStamp, rhs: SourceStamp) -> Bool {
        if let l = lhs.version, let r = rhs.version, l != r { return l < r }
        return lhs.millis < rhs.millis
    }

    public static func == (lhs: SourceStamp, rhs: SourceStamp) -> Bool {
        if let l = lhs.version, let r = rhs.version { return l == r && lhs.millis == rhs.millis }
        return lhs.millis == rhs.millis
    }

    public var description: String {
        let base = Timestamp.iso8601(millis: millis)
        return version.map { "\(base) v\($0)" } ?? base
    }
}
