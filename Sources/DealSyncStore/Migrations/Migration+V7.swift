extension Migration {
    /// Onboarding: the runs (resumable, with what they planned) and the records they left unlinked for good,
    /// which the pipeline never creates on the other side.
    static let v7Onboarding = Migration(
        version: 7, name: "onboarding",
        statements: [
            """
            CREATE TABLE onboarding_runs (
                id                  uuid PRIMARY KEY,
                connector           text NOT NULL,
                actor               text NOT NULL,
                state               text NOT NULL CHECK (state IN ('applying', 'applied')),
                read_started_millis bigint NOT NULL,
                plan                jsonb NOT NULL,
                done                jsonb NOT NULL DEFAULT '{}',
                started_at          timestamptz NOT NULL DEFAULT now(),
                finished_at         timestamptz
            )
            """,
            "CREATE UNIQUE INDEX onboarding_runs_open ON onboarding_runs (connector) WHERE state = 'applying'",
            """
            CREATE TABLE sync_holds (
                side       text NOT NULL CHECK (side IN ('master', 'crm')),
                record_id  text NOT NULL,
                connector  text NOT NULL,
                kind       text NOT NULL CHECK (kind IN ('ambiguous', 'unmatched')),
                reason     text NOT NULL,
                run_id     uuid REFERENCES onboarding_runs (id),
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (side, record_id, connector)
            )
            """,
        ])
}
