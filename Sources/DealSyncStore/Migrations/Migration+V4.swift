extension Migration {
    /// Batched, per-lane inbox claims: each connector's due rows are read in id order from an index of pending
    /// rows only, so a claim costs the same with 100 rows waiting or 100,000; fetches in progress are found by
    /// their own small index.
    static let v4InboxLanes = Migration(
        version: 4, name: "inbox lanes",
        statements: [
            "CREATE INDEX inbox_lane ON inbox (connector, id) WHERE status = 'pending'",
            "CREATE INDEX inbox_fetching ON inbox (connector) WHERE status = 'pending' AND fetched_by IS NOT NULL",
            "DROP INDEX inbox_pending",
            "CREATE INDEX inbox_pending ON inbox (id) WHERE status = 'pending'",
        ])
}
