extension Migration {
    /// Batched, per-lane claims. Each connector's due inbox rows are read in id order from an index of pending
    /// rows only, so a claim costs the same with 100 rows waiting or 100,000; fetches in progress are found by
    /// their own small index. Outbox rows carry the lane (CRM connector) whose change caused them, so a target
    /// written from many lanes (MasterDeal) serves them in turn: a burst in one delays only its own writes.
    static let v4InboxLanes = Migration(
        version: 4, name: "lanes",
        statements: [
            "CREATE INDEX inbox_lane ON inbox (connector, id) WHERE status = 'pending'",
            "CREATE INDEX inbox_fetching ON inbox (connector) WHERE status = 'pending' AND fetched_by IS NOT NULL",
            "DROP INDEX inbox_pending",
            "CREATE INDEX inbox_pending ON inbox (id) WHERE status = 'pending'",
            "ALTER TABLE outbox ADD COLUMN lane text",
            "UPDATE outbox o SET lane = coalesce((SELECT l.connector FROM links l WHERE l.id = o.link_id), o.target)",
            "ALTER TABLE outbox ALTER COLUMN lane SET NOT NULL",
            "CREATE INDEX outbox_lane_due ON outbox (target, lane, id) WHERE status = 'pending'",
            "CREATE INDEX outbox_in_flight ON outbox (target) WHERE status = 'in_flight'",
        ])
}
