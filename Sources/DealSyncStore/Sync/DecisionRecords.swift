import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// Everything a decision session writes, sent as one statement: its links and their field state, the writes it
/// cancels, its outbox rows and divergence entries and, for an inbox batch, its rows' statuses; for a relay round,
/// its writes' outcomes (``DeliveryRecords``).
///
/// Each part is a data-modifying `WITH` over arrays, and an empty array writes nothing, so the statement is the
/// same whatever a session decided. Separately these were up to nine round trips to PostgreSQL per transaction,
/// and each costs the gateway more than PostgreSQL spends running it (see the README's "Where the time goes").
/// Every part reads the transaction as it was before the statement and writes rows no other part writes (new
/// links and changed ones are different links; the cancelled writes are pending rows, the inserted ones are new;
/// each inbox row has one status), so running them together changes nothing in what they do. The foreign keys
/// (an outbox row or a field state of a link created in the same statement) are checked at the statement's end.
///
/// A relay round's parts keep to that too: its rows were in flight when the statement began (its claim locked
/// them), so no cancelled write is among them; a dead letter is made of the row as it was, with the round's attempt
/// added as the row's own update adds it; and the writes that follow a deal the round created are the links' other
/// open writes, leaving out the round's rows (their own updates name the deal) and the writes cancelled here.
package enum DecisionRecords {
    /// An inbox batch's rows' statuses, with what writing them needs.
    struct Statuses {
        var statuses: InboxClaims.Statuses
        var fetchLease: Double
        var worker: String?
        var maxAttempts: Int
    }

    /// Writes `links`, `rows`, `statuses` and `outcomes` in one statement; with nothing to write (a repair that
    /// changed nothing), sends none.
    static func write(
        links: LinkBookRecords.Changes, rows: SyncEffectsRecords.Rows, statuses: Statuses?, outcomes: DeliveryRecords? = nil,
        on tx: PostgresConnection, logger: Logger
    ) async throws {
        guard !links.isEmpty || !rows.isEmpty || !(statuses?.statuses.isEmpty ?? true) || !(outcomes?.isEmpty ?? true) else { return }
        let save = Save(statement: statement(links: links, rows: rows, statuses: statuses, outcomes: outcomes))
        assert(save.statement.sql == Save.sql, "the prepared statement's text changed with what it writes")
        for try await _ in try await tx.executeKept(save, logger: logger) {}
    }

    /// The statement prepared once per connection: its text is the same whatever is written (every value is a
    /// bind, each cast to its type), and sent as a one-off query PostgreSQL parsed and planned its fifteen parts
    /// every time, about 2 ms of its CPU (0.2–0.3 ms prepared, on this project's build machine): more than the
    /// rest of a small transaction's work. Every transaction that saves starts with ``KeyedPlanning`` (in a statement
    /// it sends anyway: ``LinkBookRecords/lock(_:on:logger:)``, a lane's ``InboxClaims/takeOverFetches(connector:)``),
    /// so the plan run is the kept generic one, and it takes every row by a key (``SavePlanTests``). No binding types
    /// are listed: each bind's cast names its type.
    package struct Save: PostgresPreparedStatement {
        package typealias Row = PostgresRow
        package static let name = "dealsync_save_decisions"
        package static let sql = DecisionRecords.statement(links: .init(), rows: .init(), statuses: nil).sql
        let statement: PostgresQuery

        package func makeBindings() throws -> PostgresBindings { statement.binds }
        package func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
    }

    static func statement(
        links: LinkBookRecords.Changes, rows: SyncEffectsRecords.Rows, statuses: Statuses?, outcomes: DeliveryRecords? = nil
    ) -> PostgresQuery {
        let (created, changed, noLineage) = (links.created, links.changed, LinkBookRecords.Changes.noLineage)
        let (w, e, noStamp) = (rows.writes, rows.entries, SyncEffectsRecords.Rows.Entries.noStamp)
        let inbox = statuses?.statuses ?? InboxClaims.Statuses()
        let (finished, retried) = (inbox.finished, inbox.retried)
        let round = outcomes ?? DeliveryRecords()
        let (done, again, dead, moved) = (round.done, round.retried, round.dead, round.retargeted)
        return """
            WITH created_links AS (
                INSERT INTO links (id, connector, master_deal_id, record_id, state, master_version, last_lineage_id)
                SELECT id, connector, NULLIF(master, ''), NULLIF(record, ''), CASE WHEN active THEN 'active' ELSE 'unlinked' END,
                    NULLIF(version, -1), NULLIF(lineage, \(typed: noLineage))
                FROM unnest(\(typed: created.ids), \(typed: created.connectors), \(typed: created.deals), \(typed: created.records), \(typed: created.active),
                            \(typed: created.versions), \(typed: created.lineages))
                    AS t(id, connector, master, record, active, version, lineage)
            ), changed_links AS (
                UPDATE links l SET master_deal_id = NULLIF(t.master, ''), record_id = NULLIF(t.record, ''),
                    state = CASE WHEN t.active THEN 'active' ELSE 'unlinked' END, master_version = NULLIF(t.version, -1),
                    last_lineage_id = coalesce(NULLIF(t.lineage, \(typed: noLineage)), l.last_lineage_id), updated_at = now()
                FROM unnest(\(typed: changed.ids), \(typed: changed.deals), \(typed: changed.records), \(typed: changed.active), \(typed: changed.versions),
                            \(typed: changed.lineages))
                    AS t(id, master, record, active, version, lineage)
                WHERE l.id = t.id
            ), states AS (
                INSERT INTO link_fields (link_id, states)
                SELECT link, states FROM unnest(\(typed: links.states.links), \(typed: links.states.texts)) AS t(link, states)
                ON CONFLICT (link_id) DO UPDATE SET states = excluded.states, updated_at = now()
            ), cancelled AS (
                UPDATE outbox o SET status = 'superseded', updated_at = now()
                WHERE o.id = ANY(ARRAY(
                    SELECT p.id FROM unnest(\(typed: rows.cancelled.links), \(typed: rows.cancelled.targets)) AS c(link, target)
                    CROSS JOIN LATERAL (
                        -- The status as `StatusByID` checks it: from `status = 'pending'` PostgreSQL would prove that
                        -- `outbox_lane_due` holds the rows, and read a target's whole backlog through it, for each link.
                        -- The target as an expression (`|| ''`), never a key: planned on an empty outbox, reading
                        -- `outbox_open` by the target (every open write of it) cost the same as reading `outbox_by_link`
                        -- by the link.
                        SELECT id FROM outbox
                        WHERE link_id = c.link AND target || '' = c.target AND status IN ('pending', 'in_flight')
                          AND \(unescaped: StatusByID.is("pending"))
                        OFFSET 0
                    ) p))
            ), writes AS (
                INSERT INTO outbox (target, record_key, link_id, master_deal_id, operation, payload, idempotency_key, lineage_id,
                    inbox_id, lane)
                SELECT target, record_key, NULLIF(link, 0), NULLIF(deal, ''), operation, payload::jsonb, key, lineage, NULLIF(inbox, 0),
                    lane
                FROM unnest(\(typed: w.targets), \(typed: w.recordKeys), \(typed: w.links), \(typed: w.deals), \(typed: w.operations), \(typed: w.payloads), \(typed: w.keys),
                            \(typed: w.lineages), \(typed: w.inboxIDs), \(typed: w.lanes))
                    WITH ORDINALITY AS t(target, record_key, link, deal, operation, payload, key, lineage, inbox, lane, ordinality)
                ORDER BY ordinality
                ON CONFLICT (idempotency_key) DO NOTHING
            ), entries AS (
                INSERT INTO divergence_log (kind, master_deal_id, connector, record_id, field, master_value, crm_value, master_at,
                    crm_at, rule, winner, outcome, lineage_id, detail)
                SELECT kind, NULLIF(deal, ''), connector, NULLIF(record, ''), NULLIF(field, ''), NULLIF(master_value, '')::jsonb,
                    NULLIF(crm_value, '')::jsonb,
                    CASE WHEN master_at = \(typed: noStamp) THEN NULL ELSE to_timestamp(master_at / 1000.0) END,
                    CASE WHEN crm_at = \(typed: noStamp) THEN NULL ELSE to_timestamp(crm_at / 1000.0) END,
                    NULLIF(rule, ''), NULLIF(winner, ''), outcome, lineage, detail::jsonb
                FROM unnest(\(typed: e.kinds), \(typed: e.deals), \(typed: e.connectors), \(typed: e.records), \(typed: e.fields), \(typed: e.masterValues), \(typed: e.crmValues),
                            \(typed: e.masterAt), \(typed: e.crmAt), \(typed: e.rules), \(typed: e.winners), \(typed: e.outcomes), \(typed: e.lineages), \(typed: e.details))
                    WITH ORDINALITY AS t(kind, deal, connector, record, field, master_value, crm_value, master_at, crm_at, rule,
                        winner, outcome, lineage, detail, ordinality)
                ORDER BY ordinality
            ), finished AS (
                UPDATE inbox i SET status = t.status, processed_at = now(), error = NULLIF(t.error, '')
                FROM unnest(\(typed: finished.ids), \(typed: finished.statuses), \(typed: finished.errors)) AS t(id, status, error)
                WHERE i.id = t.id
            ), retried AS (
                UPDATE inbox i SET attempts = i.attempts + 1, error = t.error, fetched_by = NULL,
                    next_attempt_at = now() + make_interval(secs => t.delay * least(60, power(2, i.attempts)::float8 - 1)),
                    status = CASE WHEN i.attempts + 1 >= \(typed: statuses?.maxAttempts ?? 0) THEN 'failed' ELSE i.status END
                FROM unnest(\(typed: retried.ids), \(typed: retried.errors), \(typed: retried.delays)) AS t(id, error, delay)
                WHERE i.id = t.id
            ), fetching AS (
                UPDATE inbox SET next_attempt_at = now() + make_interval(secs => \(typed: statuses?.fetchLease ?? 0)),
                    attempts = attempts + 1, fetched_by = \(typed: statuses?.worker) WHERE id = ANY(\(typed: inbox.fetching))
            ), delivered AS (
                UPDATE outbox o SET status = 'done', attempts = o.attempts + 1, done_at = now(), claimed_by = NULL,
                    claimed_until = NULL, attempt_log = o.attempt_log || t.entry::jsonb, updated_at = now(),
                    master_deal_id = coalesce(o.master_deal_id, NULLIF(t.deal, ''))
                FROM unnest(\(typed: done.ids), \(typed: done.entries), \(typed: done.deals)) AS t(id, entry, deal) WHERE o.id = t.id
            ), again AS (
                UPDATE outbox o SET status = 'pending', attempts = o.attempts + 1, next_attempt_at = t.at, claimed_by = NULL,
                    claimed_until = NULL, attempt_log = o.attempt_log || t.entry::jsonb, updated_at = now()
                FROM unnest(\(typed: again.ids), \(typed: again.at), \(typed: again.entries)) AS t(id, at, entry) WHERE o.id = t.id
            ), dead AS (
                UPDATE outbox o SET status = 'dead', attempts = o.attempts + 1, claimed_by = NULL, claimed_until = NULL,
                    attempt_log = o.attempt_log || t.entry::jsonb, updated_at = now()
                FROM unnest(\(typed: dead.ids), \(typed: dead.entries)) AS t(id, entry) WHERE o.id = t.id
            ), dead_letters AS (
                INSERT INTO dead_letters (outbox_id, connector, record_key, master_deal_id, operation, payload,
                    idempotency_key, lineage_id, error_class, last_error, attempts, replay_count)
                SELECT o.id, o.target, o.record_key, o.master_deal_id, o.operation, o.payload, o.idempotency_key, o.lineage_id,
                    t.class, t.detail, o.attempt_log || t.entry::jsonb, o.replay_count
                FROM outbox o JOIN unnest(\(typed: dead.ids), \(typed: dead.entries), \(typed: dead.classes), \(typed: dead.details))
                    AS t(id, entry, class, detail) ON o.id = t.id
                ORDER BY o.id
            ), following AS (
                UPDATE outbox o
                SET master_deal_id = (SELECT t.deal FROM unnest(\(typed: moved.links), \(typed: moved.deals)) AS t(link, deal)
                                      WHERE t.link = o.link_id LIMIT 1)
                WHERE o.id = ANY(ARRAY(
                    SELECT p.id FROM unnest(\(typed: moved.links)) AS t(link)
                    CROSS JOIN LATERAL (
                        SELECT id, status, target FROM outbox
                        WHERE link_id = t.link AND status IN ('pending', 'in_flight') AND master_deal_id IS NULL OFFSET 0
                    ) p
                    WHERE p.id <> ALL(\(typed: round.roundIDs))
                      AND NOT (p.status = 'pending' AND (t.link, p.target) IN (
                          SELECT * FROM unnest(\(typed: rows.cancelled.links), \(typed: rows.cancelled.targets))))))
            )
            SELECT 1
            """
    }
}
