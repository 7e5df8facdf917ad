extension Migration {
    /// A number every claim of an outbox row increases and nothing resets (a replay resets `attempts`), so a
    /// delivery outcome is recorded only by the claim that holds the row now.
    static let v2ClaimSequence = Migration(
        version: 2, name: "outbox claim sequence",
        statements: [
            "ALTER TABLE outbox ADD COLUMN claim_seq bigint NOT NULL DEFAULT 0"
        ])
}
