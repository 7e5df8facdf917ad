extension Migration {
    /// Field state as one row per link, its fields' states one document in `text`, instead of a `jsonb` row per
    /// link and field. A batch of 200 links read and rewrote 1,600 rows, each with its own index entry, foreign
    /// key check and `jsonb` parse: on the benchmark's drain that was half of PostgreSQL's time. A link's document
    /// is rewritten whole (its writers hold the link's row lock), compressed with LZ4 where the server has it.
    static let v9FieldStatePerLink = Migration(
        version: 9, name: "field state per link",
        statements: [
            """
            CREATE TABLE link_fields (
                link_id    bigint PRIMARY KEY REFERENCES links (id) ON DELETE CASCADE,
                states     text NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            // A server built without LZ4 (or older than 14, without the clause) keeps its default compression.
            """
            DO $$ BEGIN
                EXECUTE 'ALTER TABLE link_fields ALTER COLUMN states SET COMPRESSION lz4';
            EXCEPTION WHEN feature_not_supported OR syntax_error THEN NULL;
            END $$
            """,
            """
            INSERT INTO link_fields (link_id, states, updated_at)
            SELECT link_id, jsonb_object_agg(field, state)::text, max(updated_at) FROM field_state GROUP BY link_id
            """,
            "DROP TABLE field_state",
        ])
}
