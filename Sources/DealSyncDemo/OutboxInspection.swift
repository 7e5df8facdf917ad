import DealSyncStore
import Foundation
import Logging
import PostgresNIO

/// What the demo shows of the outbox while a target is down: the attempts of the write being retried.
struct OutboxInspection: Sendable {
    let database: Database

    func attempts(target: String) async throws -> [AttemptRecord] {
        let rows = try await database.client.query(
            "SELECT attempt_log::text FROM outbox WHERE target = \(target) AND status IN ('pending', 'in_flight') ORDER BY id LIMIT 1")
        for try await text in rows.decode(String.self) {
            return (try? JSONDecoder().decode([AttemptRecord].self, from: Data(text.utf8))) ?? []
        }
        return []
    }
}
