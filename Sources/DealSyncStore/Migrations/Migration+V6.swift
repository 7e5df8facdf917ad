extension Migration {
    /// Creates to MasterDeal not yet answered, read whenever polled deals are decided (a deal with no link may be
    /// one of them): found without walking the target's other waiting writes.
    static let v6OpenCreates = Migration(
        version: 6, name: "open creates",
        statements: [
            "CREATE INDEX outbox_open_creates ON outbox (target, id) WHERE operation = 'create' AND status IN ('pending', 'in_flight')"
        ])
}
