import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// Everything a decision session writes, sent as one statement: its links and their field state, the writes it
/// cancels, its outbox rows and divergence entries and, for an inbox batch, its rows' statuses.
///
/// Each part is a data-modifying `WITH` over arrays, and an empty array writes nothing, so the statement is the
/// same whatever a session decided. Separately these were up to nine round trips to PostgreSQL per transaction,
/// and each costs the gateway more than PostgreSQL spends running it (see the README's "Where the time goes").
/// Every part reads the transaction as it was before the statement and writes rows no other part writes (new
/// links and changed ones are different links; the cancelled writes are pending rows, the inserted ones are new;
/// each inbox row has one status), so running them together changes nothing in what they do. The foreign keys
/// (an outbox row or a field state of a link created in the same statement) are checked at the statement's end.
enum DecisionRecords {
    /// An inbox batch's rows' statuses, with what writing them needs.
    struct Statuses {
        var statuses: InboxClaims.Statuses
        var fetchLease: Double
        var worker: String?
        var maxAttempts: Int
    }

    /// Writes `links`, `rows` and `statuses` in one statement; with nothing to write (a delivery outcome or a repair
    /// that changed nothing), sends none.
    static func write(
        links: LinkBookRecords.Changes, rows: SyncEffectsRecords.Rows, statuses: Statuses?, on tx: PostgresConnection, logger: Logger
    ) async throws {
        guard !links.isEmpty || !rows.isEmpty || !(statuses?.statuses.isEmpty ?? true) else { return }
        try await tx.query(statement(links: links, rows: rows, statuses: statuses), logger: logger)
    }

    static func statement(links: LinkBookRecords.Changes, rows: SyncEffectsRecords.Rows, statuses: Statuses?) -> PostgresQuery {
        let (created, changed, noLineage) = (links.created, links.changed, LinkBookRecords.Changes.noLineage)
        let (w, e, noStamp) = (rows.writes, rows.entries, SyncEffectsRecords.Rows.Entries.noStamp)
        let inbox = statuses?.statuses ?? InboxClaims.Statuses()
        let (finished, retried) = (inbox.finished, inbox.retried)
        return """
            WITH created_links AS (
                INSERT INTO links (id, connector, master_deal_id, record_id, state, master_version, last_lineage_id)
                SELECT id, connector, NULLIF(master, ''), NULLIF(record, ''), CASE WHEN active THEN 'active' ELSE 'unlinked' END,
                    NULLIF(version, -1), NULLIF(lineage, \(noLineage))
                FROM unnest(\(created.ids), \(created.connectors), \(created.deals), \(created.records), \(created.active),
                            \(created.versions), \(created.lineages))
                    AS t(id, connector, master, record, active, version, lineage)
            ), changed_links AS (
                UPDATE links l SET master_deal_id = NULLIF(t.master, ''), record_id = NULLIF(t.record, ''),
                    state = CASE WHEN t.active THEN 'active' ELSE 'unlinked' END, master_version = NULLIF(t.version, -1),
                    last_lineage_id = coalesce(NULLIF(t.lineage, \(noLineage)), l.last_lineage_id), updated_at = now()
                FROM unnest(\(changed.ids), \(changed.deals), \(changed.records), \(changed.active), \(changed.versions),
                            \(changed.lineages))
                    AS t(id, master, record, active, version, lineage)
                WHERE l.id = t.id
            ), states AS (
                INSERT INTO link_fields (link_id, states)
                SELECT link, states FROM unnest(\(links.states.links), \(links.states.texts)) AS t(link, states)
                ON CONFLICT (link_id) DO UPDATE SET states = excluded.states, updated_at = now()
            ), cancelled AS (
                UPDATE outbox o SET status = 'superseded', updated_at = now()
                FROM unnest(\(rows.cancelled.links), \(rows.cancelled.targets)) AS c(link, target)
                WHERE o.link_id = c.link AND o.target = c.target AND o.status = 'pending'
            ), writes AS (
                INSERT INTO outbox (target, record_key, link_id, master_deal_id, operation, payload, idempotency_key, lineage_id,
                    inbox_id, lane)
                SELECT target, record_key, NULLIF(link, 0), NULLIF(deal, ''), operation, payload::jsonb, key, lineage, NULLIF(inbox, 0),
                    lane
                FROM unnest(\(w.targets), \(w.recordKeys), \(w.links), \(w.deals), \(w.operations), \(w.payloads), \(w.keys),
                            \(w.lineages), \(w.inboxIDs), \(w.lanes))
                    WITH ORDINALITY AS t(target, record_key, link, deal, operation, payload, key, lineage, inbox, lane, ordinality)
                ORDER BY ordinality
                ON CONFLICT (idempotency_key) DO NOTHING
            ), entries AS (
                INSERT INTO divergence_log (kind, master_deal_id, connector, record_id, field, master_value, crm_value, master_at,
                    crm_at, rule, winner, outcome, lineage_id, detail)
                SELECT kind, NULLIF(deal, ''), connector, NULLIF(record, ''), NULLIF(field, ''), NULLIF(master_value, '')::jsonb,
                    NULLIF(crm_value, '')::jsonb,
                    CASE WHEN master_at = \(noStamp) THEN NULL ELSE to_timestamp(master_at / 1000.0) END,
                    CASE WHEN crm_at = \(noStamp) THEN NULL ELSE to_timestamp(crm_at / 1000.0) END,
                    NULLIF(rule, ''), NULLIF(winner, ''), outcome, lineage, detail::jsonb
                FROM unnest(\(e.kinds), \(e.deals), \(e.connectors), \(e.records), \(e.fields), \(e.masterValues), \(e.crmValues),
                            \(e.masterAt), \(e.crmAt), \(e.rules), \(e.winners), \(e.outcomes), \(e.lineages), \(e.details))
                    WITH ORDINALITY AS t(kind, deal, connector, record, field, master_value, crm_value, master_at, crm_at, rule,
                        winner, outcome, lineage, detail, ordinality)
                ORDER BY ordinality
            ), finished AS (
                UPDATE inbox i SET status = t.status, processed_at = now(), error = NULLIF(t.error, '')
                FROM unnest(\(finished.ids), \(finished.statuses), \(finished.errors)) AS t(id, status, error)
                WHERE i.id = t.id
            ), retried AS (
                UPDATE inbox i SET attempts = i.attempts + 1, error = t.error, fetched_by = NULL,
                    next_attempt_at = now() + make_interval(secs => t.delay * least(60, power(2, i.attempts)::float8 - 1)),
                    status = CASE WHEN i.attempts + 1 >= \(statuses?.maxAttempts ?? 0) THEN 'failed' ELSE i.status END
                FROM unnest(\(retried.ids), \(retried.errors), \(retried.delays)) AS t(id, error, delay)
                WHERE i.id = t.id
            ), fetching AS (
                UPDATE inbox SET next_attempt_at = now() + make_interval(secs => \(statuses?.fetchLease ?? 0)),
                    attempts = attempts + 1, fetched_by = \(statuses?.worker) WHERE id = ANY(\(inbox.fetching))
            )
            SELECT 1
            """
    }
}
