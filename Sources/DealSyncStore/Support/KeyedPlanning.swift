/// The planner settings of the transactions that run statements prepared once and kept (a relay's claim, every
/// transaction that saves decisions), for the transaction only: no sequential or bitmap scans, no hash or merge
/// joins, and generic plans. A prepared statement's generic plan is made once per connection, under the settings of
/// the transaction that happens to make it, and kept: made on a young database's statistics without them, the
/// claim's read the outbox whole, and the save's joined the inbox and the outbox to its arrays over sequential scans,
/// for every call that followed, however large the tables grew. Left to choose, PostgreSQL also planned the save
/// afresh for every batch (its arrays' real sizes make a custom plan look cheaper than the generic one's estimate),
/// which is most of what preparing it saves.
package enum KeyedPlanning {
    /// The `set_config` calls, for the select list of a statement the transaction sends anyway.
    package static let settings = """
        set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true),
            set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true),
            set_config('plan_cache_mode', 'force_generic_plan', true)
        """
}
