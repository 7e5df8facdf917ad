extension Migration {
    /// Which worker is fetching an inbox row's records, so that a fetch whose process died is taken over soon
    /// (when that worker is no longer present) rather than after the whole fetch lease.
    static let v3FetchedBy = Migration(
        version: 3, name: "inbox fetched_by",
        statements: [
            "ALTER TABLE inbox ADD COLUMN fetched_by text"
        ])
}
