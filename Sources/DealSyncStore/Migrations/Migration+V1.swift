import DealSyncCore

extension Migration {
    /// The tables of the data flow: inbox → links + field state → outbox → dead letters, the divergence log,
    /// poll cursors, OAuth tokens, connector status and the audit log.
    static let v1InitialSchema = Migration(
        version: 1, name: "initial schema",
        statements: [
            // Intake: raw payloads, stored before anything is acknowledged.
            """
            CREATE TABLE inbox (
                id              bigserial PRIMARY KEY,
                connector       text NOT NULL,
                dedupe_key      text NOT NULL,
                source          text NOT NULL CHECK (source IN ('webhook', 'poll', 'fetch', 'refetch', 'replay')),
                received_at     timestamptz NOT NULL DEFAULT now(),
                headers         jsonb NOT NULL DEFAULT '{}',
                content_type    text,
                body            bytea NOT NULL,
                status          text NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'processed', 'failed', 'ignored')),
                attempts        integer NOT NULL DEFAULT 0,
                next_attempt_at timestamptz NOT NULL DEFAULT now(),
                processed_at    timestamptz,
                error           text,
                lineage_id      uuid NOT NULL,
                UNIQUE (connector, dedupe_key)
            )
            """,
            "CREATE INDEX inbox_pending ON inbox (next_attempt_at, id) WHERE status = 'pending'",
            "CREATE INDEX inbox_received ON inbox (connector, received_at)",
            // Links: one MasterDeal deal ↔ one record per CRM connector, unique both ways.
            """
            CREATE TABLE links (
                id              bigserial PRIMARY KEY,
                connector       text NOT NULL,
                master_deal_id  text,
                record_id       text,
                state           text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'unlinked')),
                master_version  bigint,
                last_lineage_id uuid,
                created_at      timestamptz NOT NULL DEFAULT now(),
                updated_at      timestamptz NOT NULL DEFAULT now(),
                CHECK (master_deal_id IS NOT NULL OR record_id IS NOT NULL)
            )
            """,
            "CREATE UNIQUE INDEX links_by_master ON links (connector, master_deal_id) WHERE master_deal_id IS NOT NULL",
            "CREATE UNIQUE INDEX links_by_record ON links (connector, record_id) WHERE record_id IS NOT NULL",
            "CREATE INDEX links_by_deal ON links (master_deal_id)",
            // Per linked record and field: the decided value and what is known of each side.
            """
            CREATE TABLE field_state (
                link_id    bigint NOT NULL REFERENCES links (id) ON DELETE CASCADE,
                field      text NOT NULL,
                state      jsonb NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (link_id, field)
            )
            """,
            // Outbox: writes to targets, claimed by the relay with FOR UPDATE SKIP LOCKED.
            """
            CREATE TABLE outbox (
                id              bigserial PRIMARY KEY,
                target          text NOT NULL,
                record_key      text NOT NULL,
                link_id         bigint REFERENCES links (id),
                master_deal_id  text,
                operation       text NOT NULL CHECK (operation IN ('create', 'update')),
                payload         jsonb NOT NULL,
                idempotency_key text NOT NULL UNIQUE,
                lineage_id      uuid NOT NULL,
                inbox_id        bigint REFERENCES inbox (id),
                status          text NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'in_flight', 'done', 'dead', 'superseded')),
                attempts        integer NOT NULL DEFAULT 0,
                attempt_log     jsonb NOT NULL DEFAULT '[]',
                next_attempt_at timestamptz NOT NULL DEFAULT now(),
                claimed_by      text,
                claimed_until   timestamptz,
                replay_count    integer NOT NULL DEFAULT 0,
                created_at      timestamptz NOT NULL DEFAULT now(),
                updated_at      timestamptz NOT NULL DEFAULT now(),
                done_at         timestamptz
            )
            """,
            "CREATE INDEX outbox_open ON outbox (target, record_key, id) WHERE status IN ('pending', 'in_flight')",
            "CREATE INDEX outbox_due ON outbox (target, next_attempt_at, id) WHERE status = 'pending'",
            "CREATE INDEX outbox_by_link ON outbox (link_id) WHERE status IN ('pending', 'in_flight')",
            // Dead letters: writes that failed for good, with every attempt, for support to inspect and replay.
            """
            CREATE TABLE dead_letters (
                id                bigserial PRIMARY KEY,
                outbox_id         bigint NOT NULL REFERENCES outbox (id),
                connector         text NOT NULL,
                record_key        text NOT NULL,
                master_deal_id    text,
                operation         text NOT NULL,
                payload           jsonb NOT NULL,
                idempotency_key   text NOT NULL,
                lineage_id        uuid NOT NULL,
                error_class       text NOT NULL,
                last_error        text,
                attempts          jsonb NOT NULL,
                status            text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'replayed', 'dropped')),
                replay_count      integer NOT NULL DEFAULT 0,
                resolved_at       timestamptz,
                resolved_by       text,
                resolution_reason text,
                created_at        timestamptz NOT NULL DEFAULT now()
            )
            """,
            "CREATE INDEX dead_letters_by_connector ON dead_letters (connector, created_at DESC)",
            "CREATE INDEX dead_letters_open ON dead_letters (created_at DESC) WHERE status = 'open'",
            "CREATE INDEX dead_letters_by_deal ON dead_letters (master_deal_id, created_at DESC)",
            // Divergence log: every conflict decision, one-way violation, delete, unmapped value and drift.
            """
            CREATE TABLE divergence_log (
                id             bigserial PRIMARY KEY,
                kind           text NOT NULL
                               CHECK (kind IN ('conflict', 'one_way_violation', 'drift', 'delete', 'unmapped_value')),
                master_deal_id text,
                connector      text NOT NULL,
                record_id      text,
                field          text,
                master_value   jsonb,
                crm_value      jsonb,
                master_at      timestamptz,
                crm_at         timestamptz,
                rule           text,
                winner         text,
                outcome        text NOT NULL,
                lineage_id     uuid,
                detail         jsonb NOT NULL DEFAULT '{}',
                open           boolean NOT NULL DEFAULT false,
                closed_at      timestamptz,
                created_at     timestamptz NOT NULL DEFAULT now()
            )
            """,
            "CREATE INDEX divergence_by_deal ON divergence_log (master_deal_id, created_at DESC)",
            "CREATE INDEX divergence_by_time ON divergence_log (created_at DESC)",
            "CREATE INDEX divergence_open_drift ON divergence_log (connector, field) WHERE kind = 'drift' AND open",
            // Poll watermarks per connector.
            """
            CREATE TABLE poll_cursors (
                connector  text PRIMARY KEY,
                cursor     jsonb NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            // OAuth tokens: a new single-use refresh token is committed here before it is used.
            """
            CREATE TABLE oauth_tokens (
                connector         text PRIMARY KEY,
                access_token      text,
                refresh_token     text,
                access_expires_at timestamptz,
                generation        bigint NOT NULL DEFAULT 0,
                updated_at        timestamptz NOT NULL DEFAULT now()
            )
            """,
            // Connectors paused by a blocked account, an expired subscription or a lost OAuth grant.
            """
            CREATE TABLE connector_status (
                connector  text PRIMARY KEY,
                paused     boolean NOT NULL DEFAULT false,
                reason     text,
                since      timestamptz,
                updated_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            // Audit log: every support action taken from the CLI.
            """
            CREATE TABLE audit_log (
                id      bigserial PRIMARY KEY,
                at      timestamptz NOT NULL DEFAULT now(),
                actor   text NOT NULL,
                action  text NOT NULL,
                target  text,
                reason  text,
                details jsonb NOT NULL DEFAULT '{}'
            )
            """,
            "CREATE INDEX audit_by_time ON audit_log (at DESC)",
        ])
}
