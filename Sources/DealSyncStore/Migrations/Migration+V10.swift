extension Migration {
    /// Two facts about a write as columns of their own, each with the index of the writes for which it holds, so that
    /// a statement asking for one leaves the planner nothing else to go by:
    ///
    /// - `create_sent`: a create that was sent (in flight, or tried and waiting for its next attempt), which
    ///   ``LinkBookRecords/sentCreates`` reads whenever a lane decides a deal with no link. V8's index had the condition
    ///   itself as its predicate, and PostgreSQL estimated it from each column's statistics as if they were
    ///   independent: midway through a bulk import's delivery the done creates have been tried and the waiting ones are
    ///   pending, so it took a sixth of the outbox for sent creates and read every open write through `outbox_by_link`
    ///   instead of the few hundred in flight (147 ms once, 15 ms on average over the benchmark's 100,000-lead drain).
    ///   The column's own statistics know how few they are. (Statistics of the columns together were tried: they
    ///   correct the rows expected, not the cost of reading a partial index.)
    /// - `in_flight`: a write claimed by a relay, which the claims read to take over abandoned ones and
    ///   ``OutboxClaims/nextDue(target:)`` for the earliest lease to end. Asked for `status = 'in_flight'`, the relays'
    ///   claim, planned once per connection and often on an empty outbox, could read `outbox_open` (every open write)
    ///   as well as `outbox_in_flight`, the two costed alike while nothing was known of the table: which one it took
    ///   depended on the width of a row.
    static let v10WriteFacts = Migration(
        version: 10, name: "sent creates and writes in flight as columns",
        statements: [
            """
            ALTER TABLE outbox
                ADD COLUMN create_sent boolean NOT NULL GENERATED ALWAYS AS (
                    operation = 'create' AND (status = 'in_flight' OR (status = 'pending' AND attempts > 0))) STORED,
                ADD COLUMN in_flight boolean NOT NULL GENERATED ALWAYS AS (status = 'in_flight') STORED
            """,
            "CREATE INDEX outbox_sent_creates ON outbox (target, id) WHERE create_sent",
            "DROP INDEX outbox_creates_sent",
            "DROP INDEX outbox_in_flight",
            "CREATE INDEX outbox_in_flight ON outbox (target) WHERE in_flight",
        ])
}
