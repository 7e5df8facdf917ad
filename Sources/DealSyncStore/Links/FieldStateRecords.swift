import DealSyncCore
import Foundation
import Logging
import PostgresNIO

/// Field state as stored: one row per link in `link_fields`, all its fields' states one document (V9). Every
/// writer holds the link's row lock (`FOR UPDATE`) while it reads and rewrites the document, so no field's
/// change is lost to another's.
enum FieldStateRecords {
    /// The statement that reads the states of `links`.
    static func select(links: [Int64]) -> PostgresQuery {
        "SELECT link_id, states FROM link_fields WHERE link_id = ANY(\(links))"
    }

    /// The states `select` read: link id → field → state (a link without any is absent).
    static func states(_ rows: PostgresRowSequence) async throws -> [Int64: [String: FieldState]] {
        var states: [Int64: [String: FieldState]] = [:]
        for try await (link, text) in rows.decode((Int64, String).self) {
            states[link] = try FieldState.states(jsonText: text)
        }
        return states
    }

    static func read(links: [Int64], on tx: PostgresConnection, logger: Logger) async throws -> [Int64: [String: FieldState]] {
        guard !links.isEmpty else { return [:] }
        return try await states(tx.query(select(links: links), logger: logger))
    }

    /// Writes each link's whole set of states, in one statement.
    static func save(_ states: [Int64: [String: FieldState]], on tx: PostgresConnection, logger: Logger) async throws {
        guard !states.isEmpty else { return }
        let links = states.keys.sorted()
        let texts = links.map { FieldState.jsonText(of: states[$0]!) }
        try await tx.query(
            """
            INSERT INTO link_fields (link_id, states) SELECT link, states FROM unnest(\(links), \(texts)) AS t(link, states)
            ON CONFLICT (link_id) DO UPDATE SET states = excluded.states, updated_at = now()
            """, logger: logger)
    }
}
