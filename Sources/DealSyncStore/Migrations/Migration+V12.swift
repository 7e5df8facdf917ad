extension Migration {
    /// Indexes that only the statements they were made for can use, so that a plan made on statistics that take the
    /// queues for empty (gathered before a bulk import, ``QueueStatistics``) cannot pick a wrong one:
    ///
    /// - `inbox_pending (id)` goes. Only tools and tests claim across lanes; a lane's claim asks for its connector,
    ///   and with every index of pending rows costed alike, PostgreSQL walked `inbox_pending` in id order through
    ///   another lane's 100,000-row burst to find the few rows of its own (250 ms a claim) instead of reading
    ///   `inbox_lane (connector, id)`.
    /// - `outbox_by_link` holds only writes with a link (`link_id IS NOT NULL`), which every statement reading it
    ///   names (`link_id = …` implies it). The earliest due write and the writes coalesced with a round's heads ask
    ///   nothing of the link, and PostgreSQL read the whole index (every open write) for them.
    static let v12IndexesForTheirStatements = Migration(
        version: 12, name: "indexes only their own statements can use",
        // The new index is built before the old ones go, and the inbox's is dropped last: a dropped index holds its
        // table's lock until the migration commits, so dropping first would stop intake, lanes and relays for the
        // whole build. The build itself only keeps writes off the outbox.
        statements: [
            "CREATE INDEX outbox_by_link_only ON outbox (link_id) WHERE link_id IS NOT NULL AND status IN ('pending', 'in_flight')",
            "DROP INDEX outbox_by_link",
            "ALTER INDEX outbox_by_link_only RENAME TO outbox_by_link",
            "DROP INDEX inbox_pending",
        ])
}
