extension Migration {
    /// The inbox and the outbox are queues: every claim reads its partial index (`status = 'pending'`) from the
    /// oldest entry on, and every row claimed leaves an entry behind that only a vacuum removes, so each claim reads
    /// past all the rows claimed since the last one (sampled through the benchmark's 100,000-lead drain, the earliest
    /// due write read 97 to 222 pages between two passes a minute apart). PostgreSQL's defaults vacuum a table once a
    /// fifth of it is dead and throttle the vacuum. (The drains that went wrong had another cause: plans made before
    /// the queues were analysed, see ``QueueStatistics``.) Here both are vacuumed once 1,000 rows and 1% are dead,
    /// without the cost delay, and analysed at 2%. How often the autovacuum looks at all stays the server's
    /// (`autovacuum_naptime`, a minute): looking every 10 s, the vacuums of a large outbox took so much of a 2-core
    /// machine that 500 changes a second no longer kept up.
    static let v11QueuesVacuumedOften = Migration(
        version: 11, name: "inbox and outbox vacuumed as queues",
        statements: ["inbox", "outbox"].map { table in
            """
            ALTER TABLE \(table) SET (
                autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_cost_delay = 0,
                autovacuum_vacuum_insert_threshold = 1000, autovacuum_vacuum_insert_scale_factor = 0.05,
                autovacuum_analyze_threshold = 1000, autovacuum_analyze_scale_factor = 0.02)
            """
        })
}
