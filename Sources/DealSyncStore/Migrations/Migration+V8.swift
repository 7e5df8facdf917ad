extension Migration {
    /// Creates to MasterDeal that were sent (in flight, or waiting to be tried again), read whenever deals are
    /// decided: a deal with no link may be the answer to one of them. V6's index held every open create, and
    /// during a bulk import those are the whole backlog, not yet sent: reading them per batch cost 48 ms with
    /// 100,000 waiting (a parallel scan of the outbox), against 0.1 ms through this one.
    static let v8SentCreates = Migration(
        version: 8, name: "sent creates",
        statements: [
            """
            CREATE INDEX outbox_creates_sent ON outbox (target, id)
            WHERE operation = 'create' AND (status = 'in_flight' OR (status = 'pending' AND attempts > 0))
            """,
            "DROP INDEX outbox_open_creates",
        ])
}
